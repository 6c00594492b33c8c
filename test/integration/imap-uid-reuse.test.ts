// A mailbox restored from a backup, its UID list with it: Dovecot keeps the UIDVALIDITY and gives
// out again the UIDs it gave after the backup (RFC 3501 forbids it; restores do it). The poller's
// position was past them: the new mail sat below it, never read, and a mail at a reused UID had
// the job id of the mail that had that UID before. Now a UIDNEXT at or below the position, under
// the same UIDVALIDITY, reads the folder again from its start under a new epoch in the job ids.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/log.js';
import { readHeartbeats } from '../../src/imap/heartbeat.js';
import { startPoller, type Poller } from '../../src/imap/poller.js';
import type { MailRecord } from '../../src/mail/record.js';
import { createMailStore } from '../../src/mail/store.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`IMAP UID-reuse tests skipped: ${why}`);

/** A copy that keeps owners and modes (Dovecot reads the mail as its own user). */
const cp = (from: string, to: string) => promisify(execFile)('cp', ['-a', from, to]);

const USER = { user: 'restored@example.test', password: 'pass-restored-1' };
const EMPTIED = { user: 'emptied@example.test', password: 'pass-emptied-1' };

describe.skipIf(!!why)('IMAP poller: a mailbox restored from a backup gives out UIDs again', () => {
  let dovecot: Dovecot;
  let storeDir: string;
  const prefix = uniquePrefix('imap-uid-reuse');
  const redis = testRedis();
  let queue: Queue;
  let poller: Poller | undefined;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [USER, EMPTIED] });
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-'));
    queue = new Queue(mailInbound.name, { connection: redis, prefix });
  });
  afterAll(async () => {
    await poller?.stop();
    await queue?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await dovecot?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  const subjects = async () =>
    (await queue.getJobs(['waiting', 'prioritized', 'delayed'])).map((j) => ({ id: j.id!, subject: (j.data as { record: MailRecord }).record.subject }));

  it('reads the new mail at the reused UIDs, each once', async () => {
    const c = pollerTestConfig({ ...dovecot, users: [USER] }, { storeDir, mailboxId: 'restored' });
    const config = { ...parseConfig(c.raw, c.env), prefix };
    for (const n of ['A1', 'A2']) await dovecot.appendRaw(testMail(n), { user: USER.user });
    poller = startPoller({ config, redis, store: createMailStore(config), logger: silentLogger, settings: { heartbeatIntervalMs: 300 } });
    await waitFor('A1, A2 read', async () => ((await subjects()).length === 2 ? true : undefined));
    const maildir = join(dovecot.dir, 'mail', USER.user);
    const backup = join(dovecot.dir, 'backup');
    await cp(maildir, backup);
    for (const n of ['A3', 'A4']) await dovecot.appendRaw(testMail(n), { user: USER.user });
    await waitFor('A3, A4 read', async () => ((await subjects()).length === 4 ? true : undefined));

    // The restore: the mail and Dovecot's UID list as they were after A2.
    await dovecot.halt();
    await rm(maildir, { recursive: true, force: true });
    await cp(backup, maildir);
    const resumedAt = Date.now();
    await dovecot.resume();
    await waitFor('the poller back on the restored mailbox', async () => {
      const h = (await readHeartbeats(redis, prefix, { mailboxIds: ['restored'] }))[0];
      return h?.lastSyncAt && Date.parse(h.lastSyncAt) > resumedAt ? true : undefined;
    });
    const reused = [await dovecot.appendRaw(testMail('B3'), { user: USER.user }), await dovecot.appendRaw(testMail('B4'), { user: USER.user })];
    expect(reused).toEqual([3, 4]); // the UIDs A3 and A4 had

    // Before: B3 and B4 sat below the poller's position (4), never read.
    await waitFor('B3, B4 read', async () => {
      const s = (await subjects()).map((j) => j.subject);
      return s.includes('Test mail B3') && s.includes('Test mail B4') ? true : undefined;
    });
    const all = await subjects();
    const count = (subject: string) => all.filter((j) => j.subject === subject).length;
    expect(['B3', 'B4'].map((n) => count(`Test mail ${n}`))).toEqual([1, 1]);
    // A1 and A2 were read again under the new epoch: a second job each, which the ledger makes a
    // no-op downstream (their Message-IDs); A3 and A4 keep their own jobs, untouched.
    expect(['A1', 'A2', 'A3', 'A4'].map((n) => count(`Test mail ${n}`))).toEqual([2, 2, 1, 1]);
    expect(all.filter((j) => j.subject === 'Test mail B3')[0]!.id).toMatch(/^restored:\d+~\d+:3$/);
  });

  it('keeps the new position when the restored folder is empty: mail that took UIDNEXT past the old one before the next connection is read', async () => {
    // The folder's mail was moved away (mailbox actions): the rewind read nothing, and the
    // cursor kept the old position; new mail past it by the next connection sat below it.
    const c = pollerTestConfig({ ...dovecot, users: [EMPTIED] }, { storeDir, mailboxId: 'emptied' });
    const config = { ...parseConfig(c.raw, c.env), prefix };
    const own = new Queue(mailInbound.name, { connection: redis, prefix });
    const read = async () => (await own.getJobs(['waiting', 'prioritized', 'delayed'])).filter((j) => (j.data as { mailboxId: string }).mailboxId === 'emptied').map((j) => (j.data as { record: MailRecord }).record.subject);
    const synced = async (p: Poller, after: number) =>
      waitFor('a sync of the emptied mailbox', async () => {
        const h = (await readHeartbeats(redis, prefix, { mailboxIds: ['emptied'] }))[0];
        return h?.lastSyncAt && Date.parse(h.lastSyncAt) > after ? p : undefined;
      });
    let p = startPoller({ config, redis, store: createMailStore(config), logger: silentLogger, settings: { heartbeatIntervalMs: 300 } });
    try {
      await synced(p, 0);
      const maildir = join(dovecot.dir, 'mail', EMPTIED.user);
      const backup = join(dovecot.dir, 'backup-emptied');
      await cp(maildir, backup); // no mail yet: UIDNEXT 1
      for (const n of ['E1', 'E2']) await dovecot.appendRaw(testMail(n), { user: EMPTIED.user });
      await waitFor('E1, E2 read', async () => ((await read()).length === 2 ? true : undefined));

      await dovecot.halt();
      await rm(maildir, { recursive: true, force: true });
      await cp(backup, maildir);
      const resumedAt = Date.now();
      await dovecot.resume();
      await synced(p, resumedAt); // the rewind, on an empty folder
      await p.stop();

      const uids = [];
      for (const n of ['F1', 'F2', 'F3']) uids.push(await dovecot.appendRaw(testMail(n), { user: EMPTIED.user }));
      expect(uids).toEqual([1, 2, 3]); // UIDNEXT 4: past the old position (2)
      const restartedAt = Date.now();
      p = startPoller({ config, redis, store: createMailStore(config), logger: silentLogger, settings: { heartbeatIntervalMs: 300 } });
      await synced(p, restartedAt);
      await waitFor('F1, F2, F3 read', async () => {
        const s = await read();
        return ['F1', 'F2', 'F3'].every((n) => s.includes(`Test mail ${n}`)) ? true : undefined;
      }, 10_000);
    } finally {
      await p.stop();
      await own.close();
    }
  });
});
