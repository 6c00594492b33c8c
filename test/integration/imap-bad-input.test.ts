// Bad input for the poller, against a real Dovecot: odd mails are enqueued with a readable
// status (never skipped), and bad mailbox settings end in a state a person can read instead of
// a crash loop or a hammered server.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { readHeartbeats, type HeartbeatView } from '../../src/imap/heartbeat.js';
import { startPoller, type Poller } from '../../src/imap/poller.js';
import { createLogger, silentLogger } from '../../src/core/log.js';
import type { MailRecord } from '../../src/mail/record.js';
import { createMailStore, type MailStore } from '../../src/mail/store.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, freePort, pollerTestConfig, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`IMAP bad-input tests skipped: ${why}`);

describe.skipIf(!!why)('IMAP poller: bad input', () => {
  let dovecot: Dovecot;
  let noIdle: Dovecot;
  let storeDir: string;
  let store: MailStore;
  const prefix = uniquePrefix('imap-bad');
  const redis = testRedis();
  let queue: Queue;
  let poller: Poller;
  let configPath: string;
  let cliEnv: Record<string, string>;

  beforeAll(async () => {
    [dovecot, noIdle] = await Promise.all([startDovecot(), startDovecot({ noIdle: true })]);
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-'));
    queue = new Queue(mailInbound.name, { connection: redis, prefix });
    const good = pollerTestConfig(dovecot, {
      storeDir,
      mailboxId: 'good',
      mailbox: { maxMessageBytes: 4096, resyncInterval: '1m' },
      poller: { authFailuresToPark: 2, pollInterval: '300ms' },
    });
    const variant = (id: string, d: Dovecot, imap: Record<string, unknown>) => {
      const mb = (pollerTestConfig(d, { storeDir, mailboxId: id }).raw.mailboxes as Record<string, unknown>[])[0]!;
      return { ...mb, imap: { ...(mb.imap as object), ...imap } };
    };
    const raw = {
      ...good.raw,
      mailboxes: [
        ...(good.raw.mailboxes as unknown[]),
        // Its own folder: two entries reading one user's folder on one host are refused (config
        // check); the login fails before any folder is opened.
        variant('wrongpass', dovecot, { passwordEnv: 'WRONG_PASSWORD', folder: 'Never-Opened' }),
        variant('unreachable', dovecot, { port: await freePort() }),
        variant('nofolder', dovecot, { folder: 'Does-Not-Exist' }),
        variant('noidle', noIdle, {}),
      ],
    };
    cliEnv = { ...good.env, WRONG_PASSWORD: 'not-the-password' };
    configPath = join(storeDir, 'mailroom.yml');
    await writeFile(configPath, stringify(raw));
    const config = { ...parseConfig(raw, cliEnv), prefix };
    store = createMailStore(config);
    poller = startPoller({
      config,
      redis,
      store,
      logger: silentLogger,
      // Mails over 1 KiB take the streamed path, so small test mails exercise it.
      settings: { heartbeatIntervalMs: 300, inMemoryMaxBytes: 1024 },
    });
  });
  afterAll(async () => {
    await poller?.stop();
    await queue?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await Promise.all([dovecot?.stop(), noIdle?.stop()]);
    await rm(storeDir, { recursive: true, force: true });
  });

  const root = resolve(import.meta.dirname, '..', '..');
  const mailroom = (args: string[]) =>
    promisify(execFile)(process.execPath, [join(root, 'bin', 'mailroom.js'), '--config', configPath, ...args], {
      cwd: root,
      env: { ...process.env, ...cliEnv, MAILROOM_PREFIX: prefix, MAILROOM_FROM_SOURCE: '1' },
    }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
  const authFailuresLogged = async () =>
    ((await readFile(join(dovecot.dir, 'dovecot.log'), 'utf8')).match(/auth failed|Authentication failed|password mismatch/gi) ?? []).length;

  const heartbeat = async (id: string): Promise<HeartbeatView | undefined> =>
    (await readHeartbeats(redis, prefix, { mailboxIds: [id] }))[0];

  const recordOf = async (mailboxId: string, uid: number): Promise<MailRecord> => {
    const uidvalidity = (await heartbeat(mailboxId))?.uidvalidity;
    const job = await waitFor(`job for ${mailboxId} UID ${uid}`, async () => queue.getJob(`${mailboxId}:${uidvalidity}:${uid}`));
    return (job.data as { record: MailRecord }).record;
  };

  it('enqueues a mail without From, a mail that is not a mail, and an oversize mail, each with a status', async () => {
    const noFrom = await dovecot.appendRaw(testMail('nofrom', { from: null }));
    const junk = await dovecot.appendRaw(Buffer.from('\u0001\u0002 this is not an RFC 822 message at all\r\n'.repeat(3)));
    const big = testMail('big', { body: 'x'.repeat(76) + '\r\n'.repeat(1) + ('y'.repeat(76) + '\r\n').repeat(100) });
    const oversize = await dovecot.appendRaw(big);
    const midsize = await dovecot.appendRaw(testMail('mid', { body: ('z'.repeat(76) + '\r\n').repeat(30) }));
    const after = await dovecot.appendRaw(testMail('after-the-odd-ones'));

    const r1 = await recordOf('good', noFrom!);
    expect(r1.from).toBeUndefined();
    expect(r1.subject).toBe('Test mail nofrom');

    const r2 = await recordOf('good', junk!);
    expect(r2.rawRef.size).toBeGreaterThan(0);
    expect(await store.has(r2.rawRef.sha256)).toBe(true);

    // Over maxMessageBytes: stored whole, marked so the pipeline fails it with this reason.
    const r3 = await recordOf('good', oversize!);
    expect(r3.classification.kind).toBe('unparseable');
    expect(r3.parseError).toMatch(/over the mailbox limit maxMessageBytes=4096: stored/);
    expect(r3.subject).toBe('Test mail big');
    expect((await store.get(r3.rawRef.sha256)).toString()).toBe(big);

    // Streamed (over the in-memory size) but within the limit: parsed from its head, stored whole.
    const r4 = await recordOf('good', midsize!);
    expect(r4.parseError).toBeUndefined();
    expect(r4.subject).toBe('Test mail mid');
    expect(r4.rawRef.size).toBeGreaterThan(1024);
    expect((await readFile(join(storeDir, r4.rawRef.sha256.slice(0, 2), r4.rawRef.sha256.slice(2, 4), r4.rawRef.sha256))).length).toBe(
      r4.rawRef.size,
    );

    // And the poller went on.
    expect((await recordOf('good', after!)).subject).toBe('Test mail after-the-odd-ones');
  });

  it('parks a mailbox whose password the server refuses, without hammering it', async () => {
    const hb = await waitFor('wrongpass parked', async () => {
      const h = await heartbeat('wrongpass');
      return h?.state === 'parked' ? h : undefined;
    });
    expect(hb.lastError).toMatch(/refused the login of support@example\.test .*check the password/);
    // The parked message names the variable to fix and the command that tries again.
    expect(hb.lastError).toContain('in WRONG_PASSWORD and restart the poller), then run `mailroom mailboxes retry wrongpass`');
    expect(hb.lastError).not.toContain('not-the-password');
    expect(Date.parse(hb.nextAttemptAt!) - Date.now()).toBeGreaterThan(5 * 60_000);
    // Two attempts (authFailuresToPark), then quiet. Dovecot logs a refused login when the
    // client has gone ("Disconnected (auth failed …)"), which may be just after the poller wrote
    // 'parked': wait for both attempts' lines before listening for a third.
    const before = await waitFor('both refused logins in the Dovecot log', async () => {
      const n = await authFailuresLogged();
      return n >= 2 ? n : undefined;
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await authFailuresLogged()).toBe(before);
    expect(before).toBeGreaterThan(0);
  });

  it('`mailroom mailboxes retry` wakes the parked mailbox: one more login, then parked again', async () => {
    const parked = await waitFor('wrongpass parked', async () => {
      const h = await heartbeat('wrongpass');
      return h?.state === 'parked' ? h : undefined;
    });
    const before = await authFailuresLogged();
    const r = await mailroom(['mailboxes', 'retry', 'wrongpass']);
    expect(r.stdout).toContain('asked the poller of wrongpass');
    expect(r.code).toBe(0);
    // The poller tried again long before its parkedRetry (10 min), and the refusal parked it again.
    const again = await waitFor('wrongpass parked again', async () => {
      const h = await heartbeat('wrongpass');
      return h?.state === 'parked' && h.lastErrorAt !== parked.lastErrorAt ? h : undefined;
    });
    expect(Date.parse(again.nextAttemptAt!) - Date.now()).toBeGreaterThan(5 * 60_000);
    expect(await authFailuresLogged()).toBeGreaterThan(before);
  });

  it('backs off from an unreachable server and a missing folder, saying why', async () => {
    const down = await waitFor('unreachable in backoff with an error', async () => {
      const h = await heartbeat('unreachable');
      return h?.state === 'backoff' && h.lastError ? h : undefined;
    });
    expect(down.lastError).toMatch(/cannot reach IMAP server 127\.0\.0\.1:\d+ \(connection refused/);
    const nofolder = await waitFor('nofolder in backoff with an error', async () => {
      const h = await heartbeat('nofolder');
      return h?.state === 'backoff' && h.lastError ? h : undefined;
    });
    expect(nofolder.lastError).toMatch(/folder "Does-Not-Exist" does not exist/);
  });

  it('polls a server without IDLE', async () => {
    await waitFor('noidle open', async () => (await heartbeat('noidle'))?.state === 'idle');
    expect((await heartbeat('noidle'))?.idleSupported).toBe(false);
    const uid = await noIdle.appendRaw(testMail('polled'));
    expect((await recordOf('noidle', uid!)).subject).toBe('Test mail polled');
  });

  it('reports every mailbox, the good ones as not stale', async () => {
    const all = await readHeartbeats(redis, prefix);
    expect(all.map((h) => h.mailboxId)).toEqual(['good', 'nofolder', 'noidle', 'unreachable', 'wrongpass']);
    expect(all.find((h) => h.mailboxId === 'good')?.stale).toBe(false);
    const missing = await readHeartbeats(redis, prefix, { mailboxIds: ['never-seen'] });
    expect(missing[0]).toMatchObject({ mailboxId: 'never-seen', stale: true });
  });

  it('`mailroom mailboxes` shows the states and fails while a mailbox is parked', async () => {
    // One run (the CLI loads from source here, which takes a while); --json prints the same rows.
    const text = await mailroom(['mailboxes']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/\ngood\s+(idle|syncing)\s/);
    expect(text.stdout).toMatch(/^MAILBOX\s+STATE\s+OWNER/);
    expect(text.stdout).toMatch(/wrongpass\s+parked .*refused the login/);
  });

  it('never writes an IMAP password to the log, even at debug level', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(l) } });
    const { raw, env } = pollerTestConfig(noIdle, { storeDir, mailboxId: 'logcheck' });
    const config = { ...parseConfig(raw, env), prefix };
    const p = startPoller({ config, redis, store, logger, settings: { heartbeatIntervalMs: 300 } });
    try {
      await waitFor('logcheck open', async () => (await heartbeat('logcheck'))?.state === 'idle');
    } finally {
      await p.stop();
    }
    const text = lines.join('');
    expect(text).toMatch(/mailbox open/);
    expect(text).toMatch(/LOGIN|AUTHENTICATE|login/i); // the protocol chatter is there at debug
    const password = noIdle.users[0]!.password;
    expect(text).not.toContain(password);
    expect(text).not.toContain(Buffer.from(`\u0000${noIdle.users[0]!.user}\u0000${password}`).toString('base64'));
  });
});
