// Mailbox actions facing a server that accepts the connection, greets, and never answers (a
// black hole, a hung IMAP proxy), beside a mailbox on a good server (Dovecot). The station's 32
// slots are shared by every mailbox: the stuck mailbox's jobs must give theirs back (parked, no
// attempt spent) rather than wait out imapflow's five-minute socket timeout, or no other
// mailbox's mail is moved or flagged meanwhile. The silent server is a scripted peer: Dovecot
// cannot be made to stop answering after its greeting.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/log.js';
import { readHeartbeats } from '../../src/imap/heartbeat.js';
import type { Poller } from '../../src/imap/poller.js';
import { createMailStore } from '../../src/mail/store.js';
import { mailboxActions } from '../../src/queues/catalog.js';
import { addJob } from '../../src/queues/queue.js';
import { notice } from '../helpers/corpus.js';
import { startPollerWithActions } from '../helpers/poller-run.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`stuck-server action tests skipped: ${why}`);

const GOOD = { user: 'good@example.test', password: 'pass-good-1' };

describe.skipIf(!!why)('mailbox actions beside a server that never answers', () => {
  let dovecot: Dovecot;
  let storeDir: string;
  let silent: Server;
  const sockets = new Set<Socket>();
  const prefix = uniquePrefix('actions-stuck');
  const redis = testRedis();
  let q: Queue;
  let poller: Poller | undefined;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [GOOD] });
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-'));
    // Greets, then reads every command and answers none.
    silent = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
      s.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n');
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    q = new Queue(mailboxActions.name, { connection: redis, prefix });
  });
  afterAll(async () => {
    // The silent server goes first: whatever still waits on it fails at once.
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent?.close(r));
    await poller?.stop();
    await q?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await dovecot?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  it("one mailbox's stuck server does not hold every action slot: another mailbox's action goes through, the stuck jobs wait without spending attempts", async () => {
    const silentPort = (silent.address() as { port: number }).port;
    const good = pollerTestConfig({ ...dovecot, users: [GOOD] }, { storeDir, mailboxId: 'good' });
    const mb = (good.raw.mailboxes as Record<string, unknown>[])[0]!;
    const after = { action: 'flag', flag: '$MailroomDone' };
    const mailboxes = [
      { ...mb, after },
      { ...mb, id: 'stuck', imap: { ...(mb.imap as object), port: silentPort }, after },
    ];
    const config = { ...parseConfig({ ...good.raw, store: { kind: 'redis' }, mailboxes }, good.env), prefix };
    poller = await startPollerWithActions({ config, redis, store: createMailStore(config, redis), logger: silentLogger, settings: { heartbeatIntervalMs: 300 } });
    const uidvalidity = await waitFor('good open', async () => (await readHeartbeats(redis, prefix, { mailboxIds: ['good'] }))[0]?.uidvalidity);
    const uid = (await dovecot.appendRaw(testMail('beside-a-stuck-server'), { user: GOOD.user }))!;

    // More actions for the stuck mailbox than the station has slots, all in hand before the good one is asked.
    const stuck = await Promise.all(
      Array.from({ length: 40 }, (_, i) => addJob(q, mailboxActions, { mailboxId: 'stuck', uidvalidity: '1', uid: i + 1, outcome: 'delivered' })),
    );
    await waitFor('every slot taken by the stuck mailbox', async () => (await q.getActiveCount()) >= 32);
    const job = await addJob(q, mailboxActions, { mailboxId: 'good', uidvalidity, uid, outcome: 'delivered' });

    // Before: the good action waited for the stuck turn's socket timeout (five minutes).
    const value = await waitFor(
      'the good mailbox action',
      async () => {
        const j = await q.getJob(job.id!);
        if (!j?.finishedOn) return undefined;
        if (j.failedReason) throw new Error(`action failed: ${j.failedReason}`);
        return j.returnvalue as unknown;
      },
      60_000,
    );
    expect(value).toEqual({ outcome: 'flagged' });
    // The stuck mailbox's jobs were put aside, none failed or spent an attempt.
    const states = await Promise.all(stuck.map(async (j) => ({ state: await q.getJobState(j.id!), attempts: (await q.getJob(j.id!))!.attemptsMade })));
    expect(states.filter((s) => s.state === 'delayed').length).toBeGreaterThan(0);
    expect(states.filter((s) => s.state === 'failed' || s.state === 'completed')).toEqual([]);
    expect(states.every((s) => s.attempts === 0)).toBe(true);
  }, 90_000);
});
