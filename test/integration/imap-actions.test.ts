// Mailbox actions, the mailbox lock and UIDVALIDITY changes, against a real Dovecot: the mail
// stays until a mailbox-actions job says it is finished, then moves (to a folder created on
// the way) or gets its flag; of two pollers exactly one reads a mailbox, and a stolen lock
// stops the reading at once; a rebuilt folder is read again from its start.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig, type Config } from '../../src/config/load.js';
import { ACTION_GATHER_MS, applyActions } from '../../src/imap/actions.js';
import { readCursor } from '../../src/imap/cursor.js';
import { readHeartbeats } from '../../src/imap/heartbeat.js';
import { imapKeys } from '../../src/imap/keys.js';
import type { Poller } from '../../src/imap/poller.js';
import { createLogger, silentLogger } from '../../src/core/log.js';
import { createMailStore } from '../../src/mail/store.js';
import { mailInbound, mailboxActions } from '../../src/queues/catalog.js';
import { addJob } from '../../src/queues/queue.js';
import { notice } from '../helpers/corpus.js';
import { startPollerWithActions } from '../helpers/poller-run.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`IMAP action/lock tests skipped: ${why}`);

const USERS = [
  { user: 'moves@example.test', password: 'pass-moves-1' },
  { user: 'flags@example.test', password: 'pass-flags-1' },
  { user: 'locked@example.test', password: 'pass-locked-1' },
  { user: 'rebuilt@example.test', password: 'pass-rebuilt-1' },
];

describe.skipIf(!!why)('IMAP poller: actions, lock, UIDVALIDITY', () => {
  let dovecot: Dovecot;
  let storeDir: string;
  const prefix = uniquePrefix('imap-actions');
  const redis = testRedis();
  let inbound: Queue;
  let actions: Queue;
  let config: Config;
  const pollers: Poller[] = [];

  beforeAll(async () => {
    dovecot = await startDovecot({ users: USERS });
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-'));
    inbound = new Queue(mailInbound.name, { connection: redis, prefix });
    actions = new Queue(mailboxActions.name, { connection: redis, prefix });
    const env: Record<string, string> = {};
    const mailboxes = USERS.map((u, i) => {
      const id = u.user.split('@')[0]!;
      const c = pollerTestConfig({ ...dovecot, users: [u] }, { storeDir, mailboxId: id });
      const mb = (c.raw.mailboxes as Record<string, unknown>[])[0]!;
      env[`PASS_${i}`] = u.password;
      const after =
        id === 'moves' ? { action: 'move', folder: 'Processed' } : id === 'flags' ? { action: 'flag', flag: '$MailroomDone' } : { action: 'none' };
      return {
        ...mb,
        imap: { ...(mb.imap as object), passwordEnv: `PASS_${i}`, ...(id === 'rebuilt' ? { folder: 'Support' } : {}) },
        after,
        resyncInterval: '1s',
      };
    });
    const base = pollerTestConfig(dovecot, { storeDir });
    config = { ...parseConfig({ ...base.raw, store: { kind: 'redis' }, mailboxes }, env), prefix };
    // The rebuilt mailbox's folder must exist before its poller looks.
    await dovecot.appendRaw(testMail('rebuilt-0'), { folder: 'Support', user: 'rebuilt@example.test' });
  });
  afterAll(async () => {
    await Promise.all(pollers.map((p) => p.stop()));
    await Promise.all([inbound?.close(), actions?.close()]);
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await dovecot?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  // What the poller logs, at every level: a routine action is the mail's business, not the log's.
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });

  async function start(): Promise<Poller> {
    const p = await startPollerWithActions({ config, redis, store: createMailStore(config, redis), logger, settings: { heartbeatIntervalMs: 300 } });
    pollers.push(p);
    return p;
  }

  const uidvalidityOf = async (id: string) =>
    waitFor(`${id} open`, async () => (await readHeartbeats(redis, prefix, { mailboxIds: [id] }))[0]?.uidvalidity);

  async function inFolder(user: string, folder: string): Promise<{ subject?: string; flags: string[] }[]> {
    const c = await dovecot.client(user);
    try {
      const lock = await c.getMailboxLock(folder);
      try {
        const all = await c.fetchAll('1:*', { envelope: true, flags: true }).catch(() => []);
        return all.map((m) => ({ subject: m.envelope?.subject, flags: [...(m.flags ?? [])] }));
      } finally {
        lock.release();
      }
    } finally {
      await c.logout().catch(() => c.close());
    }
  }

  async function finish(mailboxId: string, uidvalidity: string, uid: number): Promise<unknown> {
    const job = await addJob(actions, mailboxActions, { mailboxId, uidvalidity, uid, outcome: 'delivered' });
    return waitFor(`action ${job.id}`, async () => {
      // One read of the job: its finishedOn, failedReason and returnvalue belong together.
      const j = await actions.getJob(job.id!);
      if (!j?.finishedOn) return undefined;
      if (j.failedReason) throw new Error(`action failed: ${j.failedReason}`);
      return j.returnvalue as unknown;
    });
  }

  it('leaves a mail in place until its action, then moves it into a folder it creates', async () => {
    await start();
    const uid = (await dovecot.appendRaw(testMail('to-move'), { user: 'moves@example.test' }))!;
    const uv = await uidvalidityOf('moves');
    await waitFor('the mail enqueued', async () => inbound.getJob(`moves:${uv}:${uid}`));
    await new Promise((r) => setTimeout(r, 300));
    const waiting = await inFolder('moves@example.test', 'INBOX');
    expect(waiting.map((m) => m.subject)).toEqual(['Test mail to-move']);
    expect(waiting[0]?.flags).not.toContain('\\Seen'); // read with PEEK: a person still sees it as new

    expect(await finish('moves', uv, uid)).toEqual({ outcome: 'moved' });
    expect(await inFolder('moves@example.test', 'INBOX')).toEqual([]);
    expect((await inFolder('moves@example.test', 'Processed')).map((m) => m.subject)).toEqual(['Test mail to-move']);
    // Done twice (a retried job): nothing left to move, no error.
    await actions.remove(`action|moves|${uv}|${uid}`);
    expect(await finish('moves', uv, uid)).toEqual({ outcome: 'not-found' });
    // One line per mail at info is the deliverer's `mail delivered`; the routine move is debug.
    const done = lines.filter((l) => l.msg === 'mailbox action done');
    expect(done.map((l) => l.level)).toEqual([20, 20]);
  });

  it('sets the configured flag (two jobs at once on a fresh connection), and ignores an older UIDVALIDITY', async () => {
    const a = (await dovecot.appendRaw(testMail('to-flag-a'), { user: 'flags@example.test' }))!;
    const b = (await dovecot.appendRaw(testMail('to-flag-b'), { user: 'flags@example.test' }))!;
    const c = (await dovecot.appendRaw(testMail('to-flag-c'), { user: 'flags@example.test' }))!;
    const uv = await uidvalidityOf('flags');
    await waitFor('the mails enqueued', async () => inbound.getJob(`flags:${uv}:${c}`));
    // Both jobs arrive while the action connection is still being opened: they share it.
    expect(await Promise.all([finish('flags', uv, a), finish('flags', uv, b)])).toEqual([{ outcome: 'flagged' }, { outcome: 'flagged' }]);
    expect(await finish('flags', String(Number(uv) - 1), c)).toEqual({ outcome: 'uidvalidity-changed' });
    const flags = (await inFolder('flags@example.test', 'INBOX')).map((m) => [m.subject, m.flags.includes('$MailroomDone')]);
    expect(flags).toEqual([
      ['Test mail to-flag-a', true],
      ['Test mail to-flag-b', true],
      ['Test mail to-flag-c', false],
    ]);
  });

  it('sends the actions asked at once in a few commands, each job with its own outcome', async () => {
    // 12 mails finished at once on one mailbox: one STORE per turn on its connection, not one
    // per mail (a burst of 300 was 900 commands in a row). A UID that is gone and an older
    // UIDVALIDITY ride in the same turns and still get their own answers.
    const uids: number[] = [];
    for (let n = 0; n < 12; n++) uids.push((await dovecot.appendRaw(testMail(`batch-${n}`), { user: 'flags@example.test' }))!);
    const uv = await uidvalidityOf('flags');
    await waitFor('the mails enqueued', async () => inbound.getJob(`flags:${uv}:${uids.at(-1)}`));
    const stores = vi.spyOn(ImapFlow.prototype, 'messageFlagsAdd');
    try {
      const asked = [...uids.map((uid) => finish('flags', uv, uid)), finish('flags', uv, 999_999), finish('flags', String(Number(uv) - 1), uids[0]! + 1000)];
      const outcomes = await Promise.all(asked);
      expect(outcomes).toEqual([...uids.map(() => ({ outcome: 'flagged' })), { outcome: 'not-found' }, { outcome: 'uidvalidity-changed' }]);
      expect(stores.mock.calls.length).toBeGreaterThan(0);
      expect(stores.mock.calls.length).toBeLessThanOrEqual(4);
    } finally {
      stores.mockRestore();
    }
    const flagged = (await inFolder('flags@example.test', 'INBOX')).filter((m) => m.subject?.startsWith('Test mail batch-'));
    expect(flagged).toHaveLength(12);
    expect(flagged.every((m) => m.flags.includes('$MailroomDone'))).toBe(true);
  });

  it('gathers the actions of mail that finishes one at a time (a burst downstream) into a turn or two', async () => {
    // Mail finishes downstream ~20 ms apart in a burst: each action alone would be a turn of three
    // commands. The first waits ACTION_GATHER_MS for the others.
    const uids: number[] = [];
    for (let n = 0; n < 8; n++) uids.push((await dovecot.appendRaw(testMail(`spread-${n}`), { user: 'flags@example.test' }))!);
    const uv = await uidvalidityOf('flags');
    await waitFor('the mails enqueued', async () => inbound.getJob(`flags:${uv}:${uids.at(-1)}`));
    const stores = vi.spyOn(ImapFlow.prototype, 'messageFlagsAdd');
    try {
      const asked: Promise<unknown>[] = [];
      for (const uid of uids) {
        asked.push(finish('flags', uv, uid));
        await new Promise((r) => setTimeout(r, ACTION_GATHER_MS / 10));
      }
      expect(await Promise.all(asked)).toEqual(uids.map(() => ({ outcome: 'flagged' })));
      expect(stores.mock.calls.length).toBeGreaterThan(0);
      expect(stores.mock.calls.length).toBeLessThanOrEqual(2);
    } finally {
      stores.mockRestore();
    }
  });

  it('fails only the message a server refuses in a set, and never reads a refused SEARCH as "none found"', async () => {
    const user = 'flags@example.test';
    const uids: number[] = [];
    for (let n = 0; n < 3; n++) uids.push((await dovecot.appendRaw(testMail(`refuse-${n}`), { user }))!);
    const c = await dovecot.client(user);
    try {
      const uv = String(((await c.status('INBOX', { uidValidity: true })) as { uidValidity?: bigint }).uidValidity);
      const bad = uids[1]!;
      // The server stands in for one that will not take one message (a quota, a size limit):
      // any STORE naming it is refused.
      const real = c.messageFlagsAdd.bind(c);
      const store = vi.spyOn(c, 'messageFlagsAdd').mockImplementation(async (range, flags, opts) =>
        String(range).split(',').includes(String(bad)) ? false : real(range, flags, opts),
      );
      const after = { action: 'flag' as const, flag: '$Refused' };
      const out = await applyActions(c, 'INBOX', after, uids.map((uid) => ({ uidvalidity: uv, uid })));
      expect(out[0]).toBe('flagged');
      expect(out[1]).toBeInstanceOf(Error);
      expect(String(out[1])).toMatch(new RegExp(`refused to set \\$Refused on UID ${bad}`));
      expect(out[2]).toBe('flagged');
      store.mockRestore();

      vi.spyOn(c, 'search').mockResolvedValueOnce(false);
      await expect(applyActions(c, 'INBOX', after, [{ uidvalidity: uv, uid: uids[0]! }])).rejects.toThrow(/refused UID SEARCH/);
    } finally {
      await c.logout().catch(() => c.close());
    }
  });

  it('fails only the message a server will not MOVE, also on a server that refuses to CREATE a folder that is there', async () => {
    const user = 'moves@example.test';
    const uids: number[] = [];
    for (let n = 0; n < 3; n++) uids.push((await dovecot.appendRaw(testMail(`no-move-${n}`), { user }))!);
    const c = await dovecot.client(user);
    try {
      await c.mailboxCreate('Archive-R');
      const uv = String(((await c.status('INBOX', { uidValidity: true })) as { uidValidity?: bigint }).uidValidity);
      const bad = uids[1]!;
      // The server will not move one message (a quota in the target, a size limit): any MOVE
      // naming it is refused (imapflow answers a refused MOVE with false).
      const real = c.messageMove.bind(c);
      vi.spyOn(c, 'messageMove').mockImplementation(async (range, dest, opts) =>
        String(range).split(',').includes(String(bad)) ? false : real(range, dest, opts),
      );
      // And it has no [ALREADYEXISTS] (RFC 5530): CREATE of a folder that is there is a plain NO,
      // which imapflow throws. Before, that failed the whole turn: every job of the batch, each time.
      vi.spyOn(c, 'mailboxCreate').mockRejectedValue(Object.assign(new Error('Command failed'), { responseStatus: 'NO', responseText: 'Mailbox exists' }));
      const out = await applyActions(c, 'INBOX', { action: 'move', folder: 'Archive-R' }, uids.map((uid) => ({ uidvalidity: uv, uid })));
      expect(out[0]).toBe('moved');
      expect(String(out[1])).toMatch(new RegExp(`refused to move to Archive-R UID ${bad}`));
      expect(out[2]).toBe('moved');
    } finally {
      vi.restoreAllMocks();
      await c.logout().catch(() => c.close());
    }
    expect((await inFolder(user, 'Archive-R')).map((m) => m.subject)).toEqual(['Test mail no-move-0', 'Test mail no-move-2']);
  });

  it('does not log in for the actions of a mailbox whose readers parked it (a refused password): the jobs wait, no attempt spent', async () => {
    // Every action of such a mailbox logging in again (15 attempts each) would count towards
    // locking the account on a hosted server; the readers' parking says when to try again.
    const own = `${prefix}-parked`;
    const flags = config.mailboxes.find((m) => m.id === 'flags')!;
    const cfg = { ...config, prefix: own, mailboxes: [flags], secrets: { ...config.secrets, imapPasswords: { ...config.secrets.imapPasswords, flags: 'not-the-password' } } };
    const q = new Queue(mailboxActions.name, { connection: redis, prefix: own });
    const settings = { heartbeatIntervalMs: 300, authFailuresToPark: 1, parkedRetryMs: 120_000, reconnectMinMs: 50, reconnectMaxMs: 100 };
    const p = await startPollerWithActions({ config: cfg, redis, store: createMailStore(cfg, redis), logger: silentLogger, settings });
    const logins = vi.spyOn(ImapFlow.prototype, 'connect');
    try {
      await waitFor('flags parked', async () => ((await readHeartbeats(redis, own, { mailboxIds: ['flags'] }))[0]?.state === 'parked' ? true : undefined));
      logins.mockClear();
      const job = await addJob(q, mailboxActions, { mailboxId: 'flags', uidvalidity: '1', uid: 1, outcome: 'delivered' });
      await waitFor('the action parked', async () => ((await q.getJobState(job.id!)) === 'delayed' ? true : undefined));
      // Parked until the readers try the login again (two minutes away), not retried in seconds.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await q.getJobState(job.id!)).toBe('delayed');
      const j = (await q.getJob(job.id!))!;
      expect(j.attemptsMade).toBe(0);
      expect(logins).not.toHaveBeenCalled();
    } finally {
      logins.mockRestore();
      await p.stop();
      await q.close();
      await dropPrefix(redis, own);
    }
  });

  it('stopping, the poller lets the actions in hand finish, and leaves the rest waiting untouched', async () => {
    // A poller of its own (own prefix, so only its worker takes these jobs), stopped while
    // actions are in hand: the station's worker stops first and waits for them, then its
    // connections log out, then the readers stop. (Fails if the stop does not wait for them.)
    const own = `${prefix}-stop`;
    const cfg = { ...config, prefix: own, mailboxes: config.mailboxes.filter((m) => m.id === 'flags') };
    const q = new Queue(mailboxActions.name, { connection: redis, prefix: own });
    let p: Poller | undefined;
    try {
      p = await startPollerWithActions({ config: cfg, redis, store: createMailStore(cfg, redis), logger: silentLogger, settings: { heartbeatIntervalMs: 300 } });
      const uv = await waitFor('flags open', async () => (await readHeartbeats(redis, own, { mailboxIds: ['flags'] }))[0]?.uidvalidity);
      const uids: number[] = [];
      for (let n = 0; n < 6; n++) uids.push((await dovecot.appendRaw(testMail(`to-stop-${n}`), { user: 'flags@example.test' }))!);
      const jobs = await Promise.all(uids.map((uid) => addJob(q, mailboxActions, { mailboxId: 'flags', uidvalidity: uv, uid, outcome: 'delivered' })));
      // The first jobs wait on the action connection while it logs in: stop then.
      for (let i = 0; i < 1000 && (await q.getActiveCount()) === 0; i++) await new Promise((r) => setTimeout(r, 5));
      const stopping = p;
      p = undefined;
      await stopping.stop();
      const after = await Promise.all(jobs.map(async (j) => (await q.getJob(j.id!))!));
      const seen = await Promise.all(after.map(async (j) => ({ state: await j.getState(), value: j.returnvalue as unknown, failures: j.stacktrace?.length ?? 0 })));
      // Those in hand finished (flagged); the rest wait, untouched, for the next poller.
      expect(seen.filter((j) => j.state === 'completed').length).toBeGreaterThan(0);
      expect(seen.filter((j) => j.state !== 'waiting')).toEqual(seen.filter((j) => j.state === 'completed').map(() => ({ state: 'completed', value: { outcome: 'flagged' }, failures: 0 })));
      expect(seen.filter((j) => j.state === 'waiting').every((j) => j.failures === 0)).toBe(true);
      expect(await q.getWorkersCount()).toBe(0);
    } finally {
      await p?.stop();
      await q.close();
      await dropPrefix(redis, own);
    }
  });

  it('lets exactly one of two pollers read a mailbox; a stolen lock stops the reading at once', async () => {
    const second = await start();
    const first = pollers[0]!;
    const reader = (p: Poller) => p.readers.find((r) => r.id === 'locked')!;
    await waitFor('someone reading', async () => reader(first).reading || reader(second).reading);
    await new Promise((r) => setTimeout(r, 500));
    expect([reader(first).reading, reader(second).reading].filter(Boolean)).toHaveLength(1);
    const holder = reader(first).reading ? first : second;
    const other = holder === first ? second : first;

    const appender = await dovecot.client('locked@example.test');
    for (let n = 0; n < 20; n++) await appender.append('INBOX', testMail(`locked-${n}`));
    await appender.logout();
    const uv = await uidvalidityOf('locked');
    await waitFor('20 mails', async () => (await readCursor(redis, prefix, 'locked'))?.lastUid === 20);

    // Someone else takes the lock (as after a long pause of the holder): the holder notices at
    // its next renewal and stops; the other poller cannot have it either while it is taken.
    await redis.set(imapKeys.lock(prefix, 'locked'), 'intruder', 'PX', 4000);
    await waitFor('the holder to stop reading', async () => !reader(holder).reading);
    await dovecot.appendRaw(testMail('locked-20'), { user: 'locked@example.test' });
    await new Promise((r) => setTimeout(r, 500));
    expect(await inbound.getJob(`locked:${uv}:21`)).toBeUndefined();
    expect(reader(other).reading).toBe(false);

    // The intruder's lock runs out: a poller takes over and reads what came meanwhile.
    await waitFor('a takeover', async () => reader(first).reading || reader(second).reading, 10_000);
    await waitFor('the mail read after the takeover', async () => inbound.getJob(`locked:${uv}:21`));
    for (let uid = 1; uid <= 21; uid++) expect(await inbound.getJob(`locked:${uv}:${uid}`)).toBeTruthy();
  });

  it('reads a rebuilt folder (new UIDVALIDITY) again from its start', async () => {
    const before = await uidvalidityOf('rebuilt');
    await waitFor('the first mail', async () => inbound.getJob(`rebuilt:${before}:1`));
    for (let n = 1; n <= 3; n++) await dovecot.appendRaw(testMail(`rebuilt-${n}`), { folder: 'Support', user: 'rebuilt@example.test' });
    await waitFor('cursor at 4', async () => (await readCursor(redis, prefix, 'rebuilt'))?.lastUid === 4);

    // Dovecot derives UIDVALIDITY from the clock: a second later, a new folder gets a new one.
    const c = await dovecot.client('rebuilt@example.test');
    await c.mailboxDelete('Support');
    await new Promise((r) => setTimeout(r, 1100));
    await c.mailboxCreate('Support');
    await c.append('Support', testMail('rebuilt-new-1'));
    await c.append('Support', testMail('rebuilt-new-2'));
    await c.logout();

    const cursor = await waitFor('a cursor for the new UIDVALIDITY', async () => {
      const cur = await readCursor(redis, prefix, 'rebuilt');
      return cur && cur.uidvalidity !== before && cur.lastUid === 2 ? cur : undefined;
    }, 20_000);
    // UIDs 1 and 2 again, below the old cursor (4): found, not skipped.
    const j1 = await inbound.getJob(`rebuilt:${cursor.uidvalidity}:1`);
    const j2 = await inbound.getJob(`rebuilt:${cursor.uidvalidity}:2`);
    expect((j1?.data as { record: { subject: string } }).record.subject).toBe('Test mail rebuilt-new-1');
    expect((j2?.data as { record: { subject: string } }).record.subject).toBe('Test mail rebuilt-new-2');
  });
});
