// A mailbox's login record (<prefix>:imap:<id>:login) holding what no poller wrote, against a
// real Dovecot and Redis: a value of another type (WRONGTYPE to every hash command), a count that
// is not one, a next attempt in year 9999, a 10 MB fingerprint. The poller stays up, says once
// that the record is unreadable, parks after authFailuresToPark refused logins as usual, and
// writes the record afresh, so that the next holder waits instead of logging in again.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/log.js';
import { readHeartbeats, requestWake } from '../../src/imap/heartbeat.js';
import { imapKeys } from '../../src/imap/keys.js';
import { startPoller, type Poller } from '../../src/imap/poller.js';
import { createMailStore } from '../../src/mail/store.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`IMAP parked-hostile tests skipped: ${why}`);

const WRONG = 'not-the-password';
const KEY = randomBytes(32).toString('base64');
const TOOK = 'took the mailbox lock: reading';
const PARKED = 'mailbox parked: the server keeps refusing the login';
const WAITS = 'mailbox parked: the server kept refusing the login; waiting for its next attempt';
const UNREADABLE = 'the mailbox login record is unreadable: ignored (the next refused login rewrites it)';
const WOKEN = 'woken by `mailroom mailboxes retry`: trying again now';

interface Line {
  msg: string;
  level: number | string;
  nextAttemptAt?: string;
}

describe.skipIf(!!why)('a hostile mailbox login record', () => {
  let dovecot: Dovecot;
  let storeDir: string;
  const prefix = uniquePrefix('imap-parked-hostile');
  const redis = testRedis();
  const running = new Set<Poller>();

  beforeAll(async () => {
    dovecot = await startDovecot();
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-'));
  });
  afterEach(async () => {
    await Promise.all([...running].map((p) => p.stop()));
    running.clear();
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await dovecot?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  function poller(id: string, password: string) {
    const lines: Line[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Line) } });
    const { raw, env } = pollerTestConfig(dovecot, {
      storeDir,
      mailboxId: id,
      password,
      poller: { lockTtl: '1500ms', reconnectMin: '50ms', reconnectMax: '100ms', authFailuresToPark: 2, parkedRetry: '10m' },
    });
    const config = { ...parseConfig(raw, { ...env, MAILROOM_SECRET_KEY: KEY }), prefix };
    const p = startPoller({ config, redis, store: createMailStore(config, redis), logger, settings: { heartbeatIntervalMs: 200 }, parseThreads: false });
    running.add(p);
    const count = (m: string) => lines.filter((l) => l.msg === m).length;
    return {
      lines,
      count,
      async stop() {
        running.delete(p);
        await p.stop();
      },
    };
  }

  const refusedLogins = async () =>
    (await readFile(join(dovecot.dir, 'dovecot.log'), 'utf8')).split('\n').filter((l) => /imap-login: .*auth failed/i.test(l)).length;
  const heartbeat = async (id: string) => (await readHeartbeats(redis, prefix, { mailboxIds: [id] }))[0];

  it('a value of another type under the key: said once, parked as usual, rewritten, so the next holder waits', async () => {
    const id = 'wrongtype';
    const key = imapKeys.login(prefix, id);
    await redis.set(key, 'not a hash');
    const before = await refusedLogins();
    const a = poller(id, WRONG);
    await waitFor('parked', async () => (await heartbeat(id))?.state === 'parked');
    expect(await refusedLogins()).toBe(before + 2);
    expect(a.count(UNREADABLE)).toBe(1);
    expect(a.lines.filter((l) => /login record/.test(l.msg))).toHaveLength(1);
    expect(await redis.type(key)).toBe('hash');
    expect((await redis.hgetall(key)).failures).toBe('2');
    await a.stop();

    // The next holder finds the parking: no login.
    const b = poller(id, WRONG);
    await waitFor('the new holder to wait', async () => (b.count(TOOK) > 0 && b.count(WAITS) > 0 ? true : undefined));
    expect(b.count(PARKED)).toBe(0);
    expect(await refusedLogins()).toBe(before + 2);
    // `mailroom mailboxes retry` still wakes it: one login, parked again.
    await requestWake(redis, prefix, id);
    await waitFor('one try, parked again', async () => b.count(WOKEN) === 1 && b.count(PARKED) === 1);
    expect(await refusedLogins()).toBe(before + 3);
  });

  it('garbage fields (a count that is not one, year 9999, a 10 MB fingerprint): one try, parked, the record rewritten whole', async () => {
    const id = 'garbage';
    const key = imapKeys.login(prefix, id);
    await redis.hset(key, { failures: 'NaN', nextAttemptAt: '9999-12-31T23:59:59.000Z', credential: 'x'.repeat(10 * 1024 * 1024), junk: 'y' });
    const before = await refusedLogins();
    const a = poller(id, WRONG);
    // Another credential's fingerprint: tried once at once; refused, the count reaches the park.
    await waitFor('parked', async () => (await heartbeat(id))?.state === 'parked');
    expect(await refusedLogins()).toBe(before + 1);
    const stored = await redis.hgetall(key);
    expect(Object.keys(stored).sort()).toEqual(['credential', 'failures', 'nextAttemptAt']);
    expect(stored.credential).toMatch(/^[\w-]{32}$/);
    expect(stored.failures).toBe('2');
    expect(Date.parse(stored.nextAttemptAt!)).toBeLessThanOrEqual(Date.now() + 10 * 60_000);
    expect(a.count(UNREADABLE)).toBe(0);
  });
});
