// Raw mail retention on both stores, with real BullMQ jobs on a real Redis: a mail stays while
// a job (even a failed one) carries it, then for store.retention, then a prune removes it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { MAIL_QUEUES, pruneStore, readStoreSize, startStorePruner } from '../../src/mail/retention.js';
import { createMailStore } from '../../src/mail/store.js';
import { storeSizeLine } from '../../src/ops/store-size.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const DAY = 86_400_000;
let dir: string;
const prefixes: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailroom-retention-'));
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
});

/** Bytes the store counts for a mail's companion: its listed size less the raw mail's. */
async function contentBytes(store: ReturnType<typeof createMailStore>, sha256: string): Promise<number> {
  for await (const m of store.list()) if (m.sha256 === sha256) return m.size - (await store.get(sha256)).length;
  return -1;
}

function config(store: Record<string, unknown>, prefix: string) {
  return parseConfig({ jira: { site: 'https://acme.atlassian.net' }, store, mailboxes: [{ id: 'support' }] }, { MAILROOM_PREFIX: prefix });
}

describe.each([
  ['filesystem', { kind: 'fs', dir: '' }],
  ['redis', { kind: 'redis' }],
])('%s store retention', (name, storeCfg) => {
  it('keeps mail a waiting or failed job carries, keeps recent mail, prunes the rest; --dry-run deletes nothing', async () => {
    const prefix = uniquePrefix(`retention-${name}`);
    prefixes.push(prefix);
    const cfg = config(storeCfg.kind === 'fs' ? { ...storeCfg, dir: join(dir, name), retention: '2d' } : { ...storeCfg, retention: '2d' }, prefix);
    const store = createMailStore(cfg, redis);
    const queues = MAIL_QUEUES.map((q) => new Queue(q, { connection: redis, prefix }));
    try {
      const waiting = await store.put(Buffer.from('Subject: waiting\r\n\r\na\r\n'));
      const failed = await store.put(Buffer.from('Subject: failed\r\n\r\nb\r\n'));
      const done = await store.put(Buffer.from('Subject: done long ago\r\n\r\nc\r\n'));
      // The delivery content kept beside a mail is counted and deleted with it.
      await store.putContent(done.sha256, { text: 'c', fromHtml: false, attachments: [{ index: 0, filename: 'c.bin', contentType: 'application/octet-stream', size: 3, content: Buffer.from('ccc') }] });
      await store.putContent(waiting.sha256, { text: 'a', fromHtml: false, attachments: [] });
      const waitingContent = await contentBytes(store, waiting.sha256);
      expect(waitingContent).toBeGreaterThan(0);
      await queues[0]!.add('m', { record: { rawRef: waiting } });
      // A real worker fails the deliver job for good, as a permanent Jira refusal would.
      const events = new QueueEvents(MAIL_QUEUES[1], { connection: redis.duplicate({ maxRetriesPerRequest: null }), prefix });
      await events.waitUntilReady();
      const worker = new Worker(MAIL_QUEUES[1], async () => { throw new Error('Jira said no'); }, { connection: redis.duplicate({ maxRetriesPerRequest: null }), prefix });
      const f = await queues[1]!.add('m', { record: { rawRef: failed } });
      await f.waitUntilFinished(events).catch(() => undefined);
      await worker.close();
      await events.close();
      expect(await f.getState()).toBe('failed');

      // Three days later (retention 2d): the unneeded mail goes; the two a job carries stay.
      const later = Date.now() + 3 * DAY;
      const dry = await pruneStore({ store, queues, redis, prefix, retention: '2d', dryRun: true, now: later });
      expect(dry.pruned.mails).toBe(1);
      expect(dry.pruned.bytes).toBeGreaterThan(done.size + 3);
      expect(await store.has(done.sha256)).toBe(true);
      // A dry run measures nothing: `mailroom status`'s hint must not send people to it.
      expect(await readStoreSize(redis, prefix)).toBeNull();
      expect(storeSizeLine(null)).toMatch(/`mailroom store prune`/);

      const report = await pruneStore({ store, queues, redis, prefix, retention: '2d', now: later });
      expect(report).toMatchObject({ needed: 2, recent: 0, mails: 2, pruned: { mails: 1 } });
      expect(await store.has(done.sha256)).toBe(false);
      expect(await store.getContent(done.sha256)).toBeUndefined();
      expect(await store.has(waiting.sha256)).toBe(true);
      expect(await store.getContent(waiting.sha256)).toMatchObject({ text: 'a' });
      expect(await store.has(failed.sha256)).toBe(true);
      expect(await readStoreSize(redis, prefix)).toMatchObject({ mails: 2, bytes: waiting.size + waitingContent + failed.size });
      expect(storeSizeLine(await readStoreSize(redis, prefix))).toMatch(/^store: 2 mails/);

      // Once the failed job is removed, its mail stays for the retention counted from the last
      // pass that saw it needed, and goes after that.
      await f.remove();
      expect((await pruneStore({ store, queues, redis, prefix, retention: '2d', now: later + DAY })).pruned.mails).toBe(0);
      expect((await pruneStore({ store, queues, redis, prefix, retention: '2d', now: later + 3 * DAY })).pruned.mails).toBe(1);
      expect(await store.has(failed.sha256)).toBe(false);
      expect(await store.has(waiting.sha256)).toBe(true);
    } finally {
      await Promise.all(queues.map((q) => q.close()));
    }
  });
});

it('a retention under 1h is a configuration error that says why', () => {
  expect(() => config({ kind: 'redis', retention: '10m' }, '{x}')).toThrow(/at least 1h/);
});

describe('the background pruner (the poller role runs one per process)', () => {
  it('prunes on its own schedule, one pass at a time across processes, and records the store size', async () => {
    const prefix = uniquePrefix('retention-bg');
    prefixes.push(prefix);
    const cfg = config({ kind: 'redis' }, prefix);
    const store = createMailStore(cfg, redis);
    const queues = MAIL_QUEUES.map((q) => new Queue(q, { connection: redis, prefix }));
    const old = await store.put(Buffer.from('Subject: old\r\n\r\nold\r\n'));
    // Older than the pruner's retention (configuration refuses under an hour; the pruner takes any).
    await new Promise((r) => setTimeout(r, 1_100));
    const passes: string[] = [];
    const logger = (who: string) => ({ info: (_o: object, m: string) => passes.push(`${who}: ${m}`), warn: (_o: object, m: string) => passes.push(`${who}: ${m}`) });
    // Two pollers started together: the prune lock lets one of them walk the store.
    const pruners = ['a', 'b'].map((who) => startStorePruner({ store, queues, redis, prefix, retention: '1s', logger: logger(who), firstAfterMs: 20, everyMs: 60_000 }));
    try {
      const deadline = Date.now() + 10_000;
      while ((await store.has(old.sha256)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await store.has(old.sha256)).toBe(false);
      await Promise.all(pruners.map((p) => p.stop()));
      expect(passes.filter((m) => m.endsWith('mail store pruned'))).toHaveLength(1);
      expect((await readStoreSize(redis, prefix))?.mails).toBe(0);
    } finally {
      await Promise.all(pruners.map((p) => p.stop()));
      await Promise.all(queues.map((q) => q.close()));
    }
  });
});
