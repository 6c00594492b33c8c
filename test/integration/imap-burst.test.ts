// While mail is coming in, the poller looks again by itself (a short pause and a NOOP) instead
// of waiting in IDLE: IDLE news lags a change (Dovecot sends it up to half a second after), and
// in a burst of new senders every mail waited that long (issue #25, docs/benchmarks.md). Once
// the mailbox is quiet, it IDLEs again. Real Dovecot, real Redis; ImapFlow's idle() is only
// watched (spied, called through), so the test counts IDLE commands without timing anything.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { readHeartbeats } from '../../src/imap/heartbeat.js';
import { startPoller, type Poller } from '../../src/imap/poller.js';
import { silentLogger } from '../../src/core/log.js';
import { createMailStore } from '../../src/mail/store.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`IMAP burst tests skipped: ${why}`);

describe.skipIf(!!why)('IMAP poller: mail in a burst does not wait for IDLE news', () => {
  let dovecot: Dovecot;
  let storeDir: string;
  const prefix = uniquePrefix('imap-burst');
  const redis = testRedis();
  let queue: Queue;
  let poller: Poller | undefined;
  const idle = vi.spyOn(ImapFlow.prototype, 'idle');

  beforeAll(async () => {
    dovecot = await startDovecot();
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-'));
    queue = new Queue(mailInbound.name, { connection: redis, prefix });
  });
  afterAll(async () => {
    await appender?.logout().catch(() => appender?.close());
    idle.mockRestore();
    await poller?.stop();
    await queue?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await dovecot?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  // One appending connection, logged in before the burst: a login per mail would stretch the
  // gaps between the burst's mails on a loaded machine.
  let appender: ImapFlow | undefined;
  const append = async (n: number) => {
    appender ??= await dovecot.client();
    await appender.append('INBOX', testMail(n));
  };
  const jobs = async (n: number) => waitFor(`${n} mails enqueued`, async () => (await queue.count()) + (await queue.getJobCountByTypes('completed', 'failed', 'active', 'delayed')) >= n, 30_000);
  const idleHeartbeat = () =>
    waitFor('an idle heartbeat', async () => {
      const [h] = await readHeartbeats(redis, prefix);
      return h?.state === 'idle' ? h : undefined;
    });

  it('polls between a burst\'s mails instead of IDLE, and IDLEs again once the mailbox is quiet', async () => {
    const { raw, env } = pollerTestConfig(dovecot, { storeDir, mailbox: { resyncInterval: '60s' } });
    const config = { ...parseConfig({ ...raw, store: { kind: 'redis' } }, env), prefix };
    poller = startPoller({ config, redis, store: createMailStore(config, redis), logger: silentLogger, settings: { heartbeatIntervalMs: 500 } });
    // An empty mailbox: the poller IDLEs at once.
    appender = await dovecot.client();
    await idleHeartbeat();
    await waitFor('the poller in IDLE', async () => idle.mock.calls.length > 0);

    await append(1);
    await jobs(1);
    const idlesAfterFirst = idle.mock.calls.length;
    // Spaced well past the moment the poller would have gone back to IDLE after the first mail.
    await new Promise((r) => setTimeout(r, 400));
    await append(2);
    await jobs(2);
    await new Promise((r) => setTimeout(r, 400));
    await append(3);
    await jobs(3);
    // No IDLE between the burst's mails: the poller looked again by itself.
    expect(idle.mock.calls.length).toBe(idlesAfterFirst);

    // Quiet now: back to IDLE, where new mail is news again (no resync for 60 s).
    await idleHeartbeat();
    await waitFor('IDLE again', async () => idle.mock.calls.length > idlesAfterFirst);
    await append(4);
    await jobs(4);
  });
});
