// A parked mailbox stays parked whoever holds its lock, against a real Dovecot and Redis: the
// run of refused logins and the next attempt's time are the mailbox's (in Redis), so a new
// holder (another poller, or the same one taking its lock again) waits instead of logging in
// authFailuresToPark more times; `mailroom mailboxes retry` still wakes the holder; a login
// ends the run; a poller started with another password tries once at once when the install has
// a secret key, and waits without one. Logins are counted in Dovecot's own log.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/log.js';
import { readHeartbeats, requestWake, takeWake } from '../../src/imap/heartbeat.js';
import { imapKeys } from '../../src/imap/keys.js';
import { startPoller, type Poller } from '../../src/imap/poller.js';
import { createMailStore } from '../../src/mail/store.js';
import { notice } from '../helpers/corpus.js';
import { DEFAULT_USER, dovecotUnavailable, pollerTestConfig, startDovecot, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`IMAP parked-handover tests skipped: ${why}`);

const WRONG = 'not-the-password';
const KEY = randomBytes(32).toString('base64');
const TOOK = 'took the mailbox lock: reading';
const PARKED = 'mailbox parked: the server keeps refusing the login';
const WAITS = 'mailbox parked: the server kept refusing the login; waiting for its next attempt';
const WOKEN = 'woken by `mailroom mailboxes retry`: trying again now';
const PARKED_RETRY_MS = 10 * 60_000;

interface Line {
  msg: string;
  nextAttemptAt?: string;
}

describe.skipIf(!!why)('a parked mailbox changing hands', () => {
  let dovecot: Dovecot;
  let storeDir: string;
  const prefix = uniquePrefix('imap-parked-handover');
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

  /** A poller for mailbox `id` logging in with `password`; its log lines. With a secret key unless told. */
  function poller(id: string, password: string, opts: { key?: boolean } = {}) {
    const lines: Line[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Line) } });
    const { raw, env } = pollerTestConfig(dovecot, {
      storeDir,
      mailboxId: id,
      password,
      poller: { lockTtl: '1500ms', reconnectMin: '50ms', reconnectMax: '100ms', authFailuresToPark: 2, parkedRetry: '10m' },
    });
    const config = { ...parseConfig(raw, { ...env, ...(opts.key === false ? {} : { MAILROOM_SECRET_KEY: KEY }) }), prefix };
    const p = startPoller({ config, redis, store: createMailStore(config, redis), logger, settings: { heartbeatIntervalMs: 200 }, parseThreads: false });
    running.add(p);
    const msgs = () => lines.map((l) => l.msg);
    return {
      poller: p,
      lines,
      msgs,
      count: (m: string) => msgs().filter((x) => x === m).length,
      async stop() {
        running.delete(p);
        await p.stop();
      },
    };
  }

  /** Refused logins as Dovecot saw them (one imap-login line per refused connection). */
  const refusedLogins = async () =>
    (await readFile(join(dovecot.dir, 'dovecot.log'), 'utf8')).split('\n').filter((l) => /imap-login: .*auth failed/i.test(l)).length;
  const loginWorks = async (pass: string) => {
    const c = new ImapFlow({ host: dovecot.host, port: dovecot.port, secure: false, doSTARTTLS: false, auth: { user: DEFAULT_USER.user, pass }, logger: false });
    try {
      await c.connect();
      await c.logout();
      return true;
    } catch {
      c.close();
      return false;
    }
  };
  const heartbeat = async (id: string) => (await readHeartbeats(redis, prefix, { mailboxIds: [id] }))[0];
  const record = async (id: string) => redis.hgetall(imapKeys.login(prefix, id));
  /** After the lock is taken (again): what the holder did first, wait or log in (and park again). */
  const firstMove = (p: ReturnType<typeof poller>) => {
    const [took, waits, parked] = [p.count(TOOK), p.count(WAITS), p.count(PARKED)];
    return () =>
      waitFor('the new holder to wait or log in', async () =>
        p.count(TOOK) > took && (p.count(WAITS) > waits || p.count(PARKED) > parked) ? true : undefined,
      );
  };

  it('a second poller that takes the lock of a parked mailbox waits for its next attempt: no login', async () => {
    const a = poller('handover', WRONG);
    await waitFor('parked by the first poller', async () => (await heartbeat('handover'))?.state === 'parked');
    const refusedByA = await refusedLogins();
    expect(refusedByA).toBe(2);
    const stored = await record('handover');
    expect(stored.failures).toBe('2');
    const b = poller('handover', WRONG);
    const moved = firstMove(b);
    await a.stop();
    await moved();

    expect(b.count(PARKED)).toBe(0);
    expect(b.count(WAITS)).toBe(1);
    expect(await refusedLogins()).toBe(refusedByA);
    const hb = await heartbeat('handover');
    expect(hb?.state).toBe('parked');
    expect(hb?.stale).toBe(false);
    // The next attempt is the one the first poller set, not a new parkedRetry from the takeover.
    expect(Date.parse(hb!.nextAttemptAt!)).toBe(Date.parse(stored.nextAttemptAt!));

    // `mailroom mailboxes retry` reaches the new holder: one login, parked again at once.
    await requestWake(redis, prefix, 'handover');
    await waitFor('parked again after one try', async () => b.count(WOKEN) === 1 && b.count(PARKED) === 1);
    expect(await refusedLogins()).toBe(refusedByA + 1);
    expect((await record('handover')).failures).toBe('2');
  });

  it('the same poller taking its lock back waits too, and trusts a stored next attempt for at most parkedRetry', async () => {
    const a = poller('retaken', WRONG);
    await waitFor('parked', async () => (await heartbeat('retaken'))?.state === 'parked');
    const before = await refusedLogins();
    // A next attempt two centuries away (a clock skew, a hostile write) is read as parkedRetry from now.
    await redis.hset(imapKeys.login(prefix, 'retaken'), 'nextAttemptAt', '2226-01-01T00:00:00.000Z');
    const moved = firstMove(a);
    await redis.del(imapKeys.lock(prefix, 'retaken'));
    const retakenAt = Date.now();
    await moved();

    expect(a.count(PARKED)).toBe(1);
    expect(await refusedLogins()).toBe(before);
    const waited = a.lines.find((l) => l.msg === WAITS)!;
    expect(Date.parse(waited.nextAttemptAt!)).toBeLessThanOrEqual(Date.now() + PARKED_RETRY_MS);
    expect(Date.parse(waited.nextAttemptAt!)).toBeGreaterThanOrEqual(retakenAt);
  });

  it('a retry asked while no poller holds the mailbox is for the next holder: one try at once', async () => {
    const a = poller('unheld', WRONG);
    await waitFor('parked', async () => (await heartbeat('unheld'))?.state === 'parked');
    await a.stop();
    const before = await refusedLogins();
    await requestWake(redis, prefix, 'unheld');
    const b = poller('unheld', WRONG);
    await waitFor('one try, parked again', async () => b.count(WOKEN) === 1 && b.count(PARKED) === 1);
    expect(b.count(WAITS)).toBe(0);
    expect(await refusedLogins()).toBe(before + 1);
    expect(await redis.exists(imapKeys.wake(prefix, 'unheld'))).toBe(0);
  });

  it('a changed password: tried at once with the install key, not without one; a login clears the record', async () => {
    const a = poller('changed', WRONG);
    await waitFor('parked', async () => (await heartbeat('changed'))?.state === 'parked');
    // The refused credential's fingerprint is keyed: not the password, not a plain hash of it.
    const fingerprint = (await record('changed')).credential!;
    expect(fingerprint).toMatch(/^[\w-]{32}$/);
    for (const enc of ['hex', 'base64url'] as const) expect(createHash('sha256').update(WRONG).digest(enc)).not.toContain(fingerprint);
    await a.stop();
    const before = await refusedLogins();

    // No key: nothing tells a fixed password from the refused one, so the parking holds.
    const keyless = poller('changed', DEFAULT_USER.password, { key: false });
    await firstMove(keyless)();
    expect(keyless.count(WAITS)).toBe(1);
    expect((await heartbeat('changed'))?.state).toBe('parked');
    await keyless.stop();

    const fixed = poller('changed', DEFAULT_USER.password);
    await waitFor('read again', async () => (await heartbeat('changed'))?.state === 'idle');
    expect(fixed.count(WAITS)).toBe(0);
    expect(fixed.msgs()).toContain('the login credential changed since the server refused it: trying again now');
    expect(await refusedLogins()).toBe(before);
    expect(await redis.exists(imapKeys.login(prefix, 'changed'))).toBe(0);
  });

  it('a password fixed on the server, then `mailboxes retry`: the login clears the stored parking', async () => {
    const a = poller('fixed', WRONG);
    await waitFor('parked', async () => (await heartbeat('fixed'))?.state === 'parked');
    expect((await record('fixed')).failures).toBe('2');
    const users = join(dovecot.dir, 'users');
    const original = await readFile(users, 'utf8');
    try {
      await writeFile(users, `${DEFAULT_USER.user}:{PLAIN}${WRONG}\n`, { mode: 0o644 });
      // Dovecot looks at its passwd-file at most once a second: wait until it takes the new one.
      await waitFor('the server to take the new password', () => loginWorks(WRONG));
      await requestWake(redis, prefix, 'fixed');
      await waitFor('read again', async () => (await heartbeat('fixed'))?.state === 'idle');
      expect(a.count(WOKEN)).toBe(1);
      expect(await redis.exists(imapKeys.login(prefix, 'fixed'))).toBe(0);
    } finally {
      await writeFile(users, original, { mode: 0o644 });
    }
  });

  it('only the lock holder takes a wake request', async () => {
    const id = 'wake-guard';
    await redis.set(imapKeys.lock(prefix, id), 'host:1:holder', 'PX', 60_000);
    await requestWake(redis, prefix, id);
    expect(await takeWake(redis, prefix, id, 'host:2:lost-it')).toBe(false);
    expect(await redis.exists(imapKeys.wake(prefix, id))).toBe(1);
    expect(await takeWake(redis, prefix, id, 'host:1:holder')).toBe(true);
    expect(await redis.exists(imapKeys.wake(prefix, id))).toBe(0);
  });
});
