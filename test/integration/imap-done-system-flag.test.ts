// The real poller on a real Dovecot, with `after: {action: flag, flag: '\Seen'}` (config check
// takes \Seen, \Flagged, \Answered): a customer's mail a person opened in the shared mailbox
// before Mailroom read it (a backlog, an outage, a restart) carries \Seen, and must still be
// read, not skipped as if Mailroom had finished it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startPoller } from '../../src/imap/poller.js';
import { silentLogger } from '../../src/core/log.js';
import { createMailStore } from '../../src/mail/store.js';
import type { MailRecord } from '../../src/mail/record.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

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
    const prefix = uniquePrefix('done-flag');
    const folder = 'Opened';
    const client = await dovecot.client();
    try {
      await client.mailboxCreate(folder);
      await client.append(folder, testMail('opened'), ['\\Seen']);
      await client.append(folder, testMail('unread'));
    } finally {
      await client.logout().catch(() => client.close());
    }
    const { raw, env } = pollerTestConfig(dovecot, { storeDir, folder, mailbox: { after: { action: 'flag', flag: '\\Seen' } } });
    const config = { ...parseConfig({ ...raw, store: { kind: 'redis' } }, env), prefix };
    const queue = new Queue(mailInbound.name, { connection: redis, prefix });
    const poller = startPoller({ config, redis, store: createMailStore(config, redis), logger: silentLogger, settings: { heartbeatIntervalMs: 500 } });
    stops.push(async () => {
      await poller.stop();
      await queue.close();
      await dropPrefix(redis, prefix);
    });
    const ids = async () =>
      (await queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'], 0, -1)).map((j) => (j.data as { record: MailRecord }).record.messageId);
    // The unread mail is appended after the opened one: once it is in, the opened one was read or skipped.
    await waitFor('the unread mail enqueued', async () => (await ids()).includes('<test-unread@mailroom.test>'), 60_000);
    expect((await ids()).sort()).toEqual(['<test-opened@mailroom.test>', '<test-unread@mailroom.test>']);
  });
});
