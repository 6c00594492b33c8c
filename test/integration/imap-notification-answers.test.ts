// Answers to Mailroom notifications, read by the real poller from a real Dovecot: an answer to
// THIS install's notification (its Message-ID ends in smtp.from's domain) is our own mail, not
// work; an answer to ANOTHER company's Mailroom notification, which a person copied to this
// support address, is a customer's mail and must not be dropped. Both the parser threads and the
// parse on the poller's own thread (a streamed mail cut to its head, parser threads off) know
// the install's domain.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MailRecord } from '../../src/mail/record.js';
import { stableMessageId } from '../../src/notify/message.js';
import { notificationDomainOf } from '../../src/mail/loop.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { pollFolder } from '../helpers/poll-folder.js';
import { testRedis } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`notification-answer poller tests skipped: ${why}`);

const FROM = 'support@acme.example';
// The ids the notifiers mint: ours from our smtp.from, the vendor's from theirs.
const OURS = stableMessageId('evt-1', ['robot@partner.example'], notificationDomainOf(FROM));
const THEIRS = stableMessageId('evt-1', ['robot@partner.example'], notificationDomainOf('desk@vendor.example'));

describe.skipIf(!!why)('IMAP poller: answers to notifications', () => {
  let dovecot: Dovecot;
  let storeDir: string;
  const redis = testRedis();
  const stops: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    dovecot = await startDovecot();
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-'));
  });
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    redis.disconnect();
    await dovecot?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  /** Append the mails to a fresh folder, run a poller on it, and return the records it enqueued by Message-ID. */
  async function read(folder: string, mails: string[], opts: { parseThreads?: boolean; inMemoryMaxBytes?: number }): Promise<Map<string, MailRecord>> {
    const polled = await pollFolder(dovecot, redis, { storeDir, folder, mails, config: { smtp: { host: '127.0.0.1', port: 2525, from: FROM } }, ...opts });
    stops.push(() => polled.stop());
    await waitFor(`${mails.length} mails enqueued`, async () => (await polled.records()).length >= mails.length, 60_000);
    return new Map((await polled.records()).map((r) => [r.messageId ?? '', r]));
  }

  const answer = (n: string, to: string, body?: string) =>
    testMail(n, { from: 'Pat Buyer <pat@partner.example>', extraHeaders: `In-Reply-To: ${to}\r\nReferences: ${to}\r\n`, ...(body ? { body } : {}) });

  it('in the parser threads: an answer to ours is our own, an answer to another install\'s is work', { timeout: 90_000 }, async () => {
    const got = await read('Answers', [answer('ours', OURS), answer('theirs', THEIRS)], {});
    expect(got.get('<test-ours@mailroom.test>')?.classification.kind).toBe('own');
    expect(got.get('<test-theirs@mailroom.test>')?.classification).toEqual({ kind: 'human', reason: 'no automated-mail markers' });
  });

  it('on the poller\'s own thread, for a big mail streamed and cut to its head: the same', { timeout: 90_000 }, async () => {
    const big = `${'The invoice numbers you asked for are below.\r\n'.repeat(3000)}`;
    const got = await read('BigAnswers', [answer('big-ours', OURS, big), answer('big-theirs', THEIRS, big)], { parseThreads: false, inMemoryMaxBytes: 16 * 1024 });
    const ours = got.get('<test-big-ours@mailroom.test>')!;
    const theirs = got.get('<test-big-theirs@mailroom.test>')!;
    // Cut to its head, so this is the streamed path, not the whole-mail one.
    expect(ours.truncated).toContain('parse-input');
    expect(ours.classification.kind).toBe('own');
    expect(theirs.classification.kind).toBe('human');
  });
});
