// The real poller on a real Dovecot, with `after: {action: flag, flag: '\Seen'}` (config check
// takes \Seen, \Flagged, \Answered): a customer's mail a person opened in the shared mailbox
// before Mailroom read it (a backlog, an outage, a restart) carries \Seen, and must still be
// read, not skipped as if Mailroom had finished it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { pollFolder } from '../helpers/poll-folder.js';
import { testRedis } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`done-flag poller test skipped: ${why}`);

describe.skipIf(!!why)('IMAP poller: a system flag as the done flag', () => {
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

  it('reads a customer mail a person already opened (\\Seen) when the action sets \\Seen', { timeout: 90_000 }, async () => {
    const polled = await pollFolder(dovecot, redis, {
      storeDir,
      folder: 'Opened',
      mails: [{ raw: testMail('opened'), flags: ['\\Seen'] }, testMail('unread')],
      mailbox: { after: { action: 'flag', flag: '\\Seen' } },
    });
    stops.push(() => polled.stop());
    const ids = async () => (await polled.records()).map((r) => r.messageId);
    // The unread mail is appended after the opened one: once it is in, the opened one was read or skipped.
    await waitFor('the unread mail enqueued', async () => (await ids()).includes('<test-unread@mailroom.test>'), 60_000);
    expect((await ids()).sort()).toEqual(['<test-opened@mailroom.test>', '<test-unread@mailroom.test>']);
  });
});
