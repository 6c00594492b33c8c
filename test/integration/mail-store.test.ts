import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { NotFoundError, PermanentError } from '../../src/core/errors.js';
import { parseContent } from '../../src/mail/parse.js';
import { prepareMail } from '../../src/mail/prepare.js';
import { rawMail } from '../helpers/deliver-testkit.js';
import { FsMailStore, RedisMailStore, createMailStore, sha256Of, type MailStore } from '../../src/mail/store.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const MAIL = Buffer.from('From: a@example.com\r\nSubject: stored\r\nMessage-ID: <s@example.com>\r\n\r\nbody \xe9\r\n', 'latin1');
const OTHER = Buffer.from('From: b@example.com\r\nSubject: other\r\n\r\nsecond\r\n');

const redis = testRedis();
const prefix = uniquePrefix('mail-store');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailroom-store-'));
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
});

function config(store: unknown) {
  return parseConfig({ jira: { site: 'https://acme.atlassian.net' }, store, mailboxes: [{ id: 'support' }] }, { MAILROOM_PREFIX: prefix });
}

describe.each([
  ['filesystem', () => createMailStore(config({ kind: 'fs', dir: join(dir, 'fs') }), redis)],
  ['redis', () => createMailStore(config({ kind: 'redis' }), redis)],
])('%s mail store', (_name, make: () => MailStore) => {
  it('returns the sha256 and size, and gives the exact bytes back', async () => {
    const store = make();
    const ref = await store.put(MAIL);
    expect(ref).toEqual({ sha256: sha256Of(MAIL), size: MAIL.length });
    expect(await store.has(ref.sha256)).toBe(true);
    expect((await store.get(ref.sha256)).equals(MAIL)).toBe(true);
  });

  it('treats a second put of the same bytes as a no-op', async () => {
    const store = make();
    const a = await store.put(OTHER);
    const b = await store.put(Buffer.from(OTHER));
    expect(b).toEqual(a);
    expect((await store.get(a.sha256)).equals(OTHER)).toBe(true);
  });

  it('stores a stream, hashing on the way', async () => {
    const store = make();
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'x');
    const chunks = [big.subarray(0, 1000), big.subarray(1000, 2_000_000), big.subarray(2_000_000)];
    const ref = await store.putStream(Readable.from(chunks));
    expect(ref).toEqual({ sha256: sha256Of(big), size: big.length });
    expect((await store.get(ref.sha256)).equals(big)).toBe(true);
    // Streaming the same content again changes nothing.
    expect(await store.putStream(Readable.from([big]))).toEqual(ref);
  });

  it('says clearly when a mail is not there, and refuses references that are not a sha256', async () => {
    const store = make();
    const missing = 'f'.repeat(64);
    expect(await store.has(missing)).toBe(false);
    await expect(store.get(missing)).rejects.toThrow(NotFoundError);
    await expect(store.get(missing)).rejects.toThrow(new RegExp(`mail ${missing} is not in the`));
    await expect(store.get('../../etc/passwd')).rejects.toThrow(PermanentError);
  });

  it('prepareMail stores before parsing, so the record points at bytes that are there', async () => {
    const store = make();
    const raw = Buffer.from(`From: c@example.com\r\nSubject: prepared ${_name}\r\n\r\nhello\r\n`);
    const record = await prepareMail(raw, store);
    expect(record.subject).toBe(`prepared ${_name}`);
    expect(record.rawRef).toEqual({ sha256: sha256Of(raw), size: raw.length });
    expect((await store.get(record.rawRef.sha256)).equals(raw)).toBe(true);
  });

  it('keeps an unparseable mail too', async () => {
    const store = make();
    const raw = Buffer.from([0, 1, 2, 3, 255]);
    const record = await prepareMail(raw, store);
    expect(record.classification.kind).toBe('unparseable');
    expect((await store.get(record.rawRef.sha256)).equals(raw)).toBe(true);
  });
});

describe.each([
  ['filesystem', () => createMailStore(config({ kind: 'fs', dir: join(dir, 'fs-content') }), redis)],
  ['redis', () => createMailStore(config({ kind: 'redis' }), redis)],
])('%s mail store: delivery content beside the raw mail', (name, make: () => MailStore) => {
  const scan = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256));
  const human = rawMail({ from: 'Ana <ana@example.com>', subject: `content ${name}`, messageId: `content-${name}@example.com`, html: '<p>See <a href="https://x.example/">the form</a></p>', attachments: [{ filename: 'scan.bin', contentType: 'application/octet-stream', content: scan }, { filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('tiny') }] });

  it('keeps what the intake parse made, equal to what parsing the raw mail gives', async () => {
    const store = make();
    const record = await prepareMail(human, store);
    expect(record.classification.kind).toBe('human');
    const kept = await store.getContent(record.rawRef.sha256);
    expect(kept).toEqual(await parseContent(human));
    expect(kept!.fromHtml).toBe(true);
    expect(kept!.attachments.map((a) => [a.filename, a.size])).toEqual([['scan.bin', scan.length], ['a.txt', 4]]);
    expect(kept!.attachments[0]!.content.equals(scan)).toBe(true);
    // A second put of the same mail is a no-op, and the content reads the same.
    await prepareMail(human, store);
    expect(await store.getContent(record.rawRef.sha256)).toEqual(kept);
  });

  it('keeps none for mail that is never delivered, nor for a raw mail stored alone', async () => {
    const store = make();
    const list = rawMail({ headers: ['List-Id: <news.example.com>', 'Precedence: list'], from: 'news@example.com', subject: `list ${name}`, messageId: `list-${name}@example.com`, text: 'news' });
    const record = await prepareMail(list, store);
    expect(record.classification.kind).not.toBe('human');
    expect(await store.getContent(record.rawRef.sha256)).toBeUndefined();
    const alone = await store.put(OTHER);
    expect(await store.getContent(alone.sha256)).toBeUndefined();
  });

  it('reads a torn companion as absent, and deletes the companion with its raw mail', async () => {
    const store = make() as MailStore & { remove(sha: string): Promise<boolean> };
    const record = await prepareMail(human, store);
    const sha = record.rawRef.sha256;
    if (store instanceof FsMailStore) await rm(join(store.pathOf(sha) + '.content', '1'));
    else await redis.hdel(`${prefix}:mail:content:${sha}`, '1');
    expect(await store.getContent(sha)).toBeUndefined();
    expect(await store.remove(sha)).toBe(true);
    expect(await store.getContent(sha)).toBeUndefined();
    if (store instanceof FsMailStore) expect(await readdir(join(store.pathOf(sha), '..'))).toEqual([]);
    else expect(await redis.exists(`${prefix}:mail:content:${sha}`)).toBe(0);
  });
});

describe('filesystem layout', () => {
  it('shards by the first two byte pairs and leaves no temp files behind', async () => {
    const store = new FsMailStore(join(dir, 'layout'));
    const ref = await store.put(MAIL);
    await store.putStream(Readable.from([OTHER]));
    expect(store.pathOf(ref.sha256)).toBe(join(dir, 'layout', ref.sha256.slice(0, 2), ref.sha256.slice(2, 4), ref.sha256));
    const all = await readdir(join(dir, 'layout'), { recursive: true });
    expect(all.filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('cleans up its temp file when the stream fails', async () => {
    const store = new FsMailStore(join(dir, 'failing'));
    const failing = new Readable({
      read() {
        this.push(Buffer.from('partial'));
        this.destroy(new Error('connection dropped'));
      },
    });
    await expect(store.putStream(failing)).rejects.toThrow('connection dropped');
    const all = await readdir(join(dir, 'failing'), { recursive: true });
    expect(all).toEqual([]);
  });
});

describe('redis layout', () => {
  it('keeps each mail at <prefix>:mail:raw:<sha>', async () => {
    const store = new RedisMailStore(redis, prefix);
    const ref = await store.put(MAIL);
    expect((await redis.getBuffer(`${prefix}:mail:raw:${ref.sha256}`))?.equals(MAIL)).toBe(true);
  });
});
