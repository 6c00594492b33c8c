// A parked mailbox (its server keeps refusing the login) whose lock is taken away, against a
// real Dovecot and Redis: one loss is one "lost the mailbox lock" line, whether the lock was
// taken over by another holder (the reader stands by) or removed (the reader takes it again).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/log.js';
import { readHeartbeats } from '../../src/imap/heartbeat.js';
import { imapKeys } from '../../src/imap/keys.js';
import { startPoller, type Poller } from '../../src/imap/poller.js';
import { createMailStore } from '../../src/mail/store.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`IMAP lock-loss tests skipped: ${why}`);

const LOST = 'lost the mailbox lock: stopped reading, standing by';
const LOCK_TTL_MS = 1500;

describe.skipIf(!!why)('a parked mailbox that loses its lock', () => {
  let dovecot: Dovecot;
  let storeDir: string;
  const prefix = uniquePrefix('imap-lock-loss');
  const redis = testRedis();
  let poller: Poller | undefined;

  beforeAll(async () => {
    dovecot = await startDovecot();
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-'));
  });
  afterEach(async () => {
    await poller?.stop();
    poller = undefined;
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await dovecot?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  /** A poller for one mailbox with a wrong password, parked at the first refusal; its log lines. */
  async function parked(id: string) {
    const lines: { msg: string; mailbox?: string; reason?: string }[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
    const { raw, env } = pollerTestConfig(dovecot, {
      storeDir,
      mailboxId: id,
      password: 'not-the-password',
      poller: { lockTtl: `${LOCK_TTL_MS}ms`, authFailuresToPark: 1, parkedRetry: '10m' },
    });
    const config = { ...parseConfig(raw, env), prefix };
    poller = startPoller({ config, redis, store: createMailStore(config, redis), logger, settings: { heartbeatIntervalMs: 200 }, parseThreads: false });
    await waitFor(`${id} parked`, async () => (await readHeartbeats(redis, prefix, { mailboxIds: [id] }))[0]?.state === 'parked');
    const msgs = () => lines.map((l) => l.msg);
    return { lines, msgs, reader: poller.readers[0]!, key: imapKeys.lock(prefix, id) };
  }

  // What could come after the loss comes within a few lock lifetimes: renewals, the watchdog,
  // the stand-by's look at the lock.
  const settle = () => new Promise((r) => setTimeout(r, 3 * LOCK_TTL_MS));

  it('taken over by another holder: one line, and the reader stands by', async () => {
    const p = await parked('taken');
    // Another poller's token, for longer than the test looks.
    await redis.set(p.key, 'elsewhere:1:0123456789ab', 'PX', 60_000);
    await waitFor('the lost line', async () => p.msgs().includes(LOST));
    await settle();
    expect(p.lines.filter((l) => l.msg === LOST)).toEqual([
      expect.objectContaining({ mailbox: 'taken', reason: 'the lock was taken by another poller or removed from Redis' }),
    ]);
    expect(p.reader.reading).toBe(false);
    expect(await redis.get(p.key)).toBe('elsewhere:1:0123456789ab');
  });

  it('removed from Redis: one line, then the reader takes the lock again', async () => {
    const p = await parked('removed');
    const took = p.msgs().filter((m) => m === 'took the mailbox lock: reading').length;
    await redis.del(p.key);
    await waitFor('the lock taken again', async () => p.msgs().filter((m) => m === 'took the mailbox lock: reading').length > took);
    await settle();
    expect(p.msgs().filter((m) => m === LOST)).toHaveLength(1);
    expect(p.reader.reading).toBe(true);
  });
});
