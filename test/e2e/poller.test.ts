// The poller as it runs in production (`node --import tsx workers/poller.ts`), against a real
// Dovecot and Redis: SIGKILLed at random points, restarted, with Dovecot restarted and the
// poller's Redis state flushed along the way, every mail still ends up in exactly one
// mail-inbound job; of two pollers one reads and the other takes over when the first dies;
// SIGTERM logs out and releases the lock.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { readCursor } from '../../src/imap/cursor.js';
import { readHeartbeats } from '../../src/imap/heartbeat.js';
import { imapKeys } from '../../src/imap/keys.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { REDIS_ENV, dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`poller e2e tests skipped: ${why}`);

const ROOT = resolve(import.meta.dirname, '..', '..');
const STATES = ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'waiting-children'] as const;
const LOCK_TTL_MS = 2000;

describe.skipIf(!!why)('poller processes', () => {
  let dovecot: Dovecot;
  let dir: string;
  const redis = testRedis();
  const children = new Set<ChildProcess>();
  const logs: string[] = [];

  beforeAll(async () => {
    dovecot = await startDovecot();
    dir = await mkdtemp(join(tmpdir(), 'mrpoller-'));
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    redis.disconnect();
    await dovecot?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function setup(label: string, mailbox: Record<string, unknown> = {}) {
    const prefix = uniquePrefix(label);
    const { raw, env } = pollerTestConfig(dovecot, {
      storeDir: join(dir, label, 'mail'),
      folder: label,
      mailbox: { resyncInterval: '2s', ...mailbox },
      poller: { lockTtl: `${LOCK_TTL_MS}ms`, reconnectMin: '200ms', reconnectMax: '1s' },
    });
    const path = join(dir, `${label}.yml`);
    await writeFile(path, stringify(raw));
    const c = await dovecot.client();
    await c.mailboxCreate(label);
    await c.logout();
    const queue = new Queue(mailInbound.name, { connection: redis, prefix });
    const spawnPoller = (): ChildProcess => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'workers/poller.ts'], {
        cwd: ROOT,
        env: { ...process.env, ...env, MAILROOM_CONFIG: path, MAILROOM_PREFIX: prefix, ...REDIS_ENV },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.add(child);
      child.stderr!.on('data', (d: Buffer) => logs.push(`[${label} ${child.pid}] ${d.toString().trimEnd()}`));
      child.on('exit', () => children.delete(child));
      return child;
    };
    const cleanup = async () => {
      await queue.close();
      await dropPrefix(redis, prefix);
    };
    return { prefix, queue, spawnPoller, cleanup };
  }

  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve(c.exitCode)
      : new Promise<number | null>((r) => c.once('exit', (code) => r(code)));

  async function kill9(c: ChildProcess): Promise<void> {
    c.kill('SIGKILL');
    await exited(c);
  }

  async function messageIds(queue: Queue): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const j of await queue.getJobs([...STATES], 0, -1)) {
      const id = (j.data as { record: { messageId?: string } }).record.messageId ?? '';
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  async function expectEachOnce(queue: Queue, names: string[]): Promise<void> {
    await waitFor(`${names.length} jobs`, async () => (await queue.getJobCountByTypes(...STATES)) >= names.length, 60_000);
    const counts = await messageIds(queue);
    expect([...counts].filter(([, n]) => n !== 1)).toEqual([]);
    expect(counts.size).toBe(names.length);
    for (const n of names) expect(counts.get(`<test-${n}@mailroom.test>`), n).toBe(1);
  }

  it('SIGKILL at random points, a Dovecot restart and a flushed state: each mail once', async () => {
    onTestFailed(() => void process.stderr.write(logs.slice(-60).join('\n') + '\n'));
    const { prefix, queue, spawnPoller, cleanup } = await setup('killed');
    const TOTAL = 200;
    const names = Array.from({ length: TOTAL }, (_, i) => `killed-${i}`);
    // Mail keeps coming in bursts the whole time, also while no poller runs. It pauses while
    // Dovecot restarts: an APPEND cut off mid-way may or may not have been stored, and sending
    // it again would put the same mail in twice.
    let appended = 0;
    let gate: Promise<void> = Promise.resolve();
    const appending = (async () => {
      let c = await dovecot.client();
      while (appended < TOTAL) {
        const burst = Math.min(TOTAL - appended, 5 + Math.floor(Math.random() * 25));
        for (let k = 0; k < burst; k++) {
          await gate;
          if (!c.usable) c = await dovecot.client();
          await c.append('killed', testMail(names[appended]!));
          appended++;
        }
        await new Promise((r) => setTimeout(r, Math.random() * 150));
      }
      await c.logout().catch(() => c.close());
    })();

    const reading = (p: ChildProcess) =>
      waitFor(`poller ${p.pid} to read`, async () => {
        const [h] = await readHeartbeats(redis, prefix, { mailboxIds: ['support'] });
        return h?.owner?.endsWith(`:${p.pid}`) && h.state !== 'connecting';
      }, 60_000);
    let current = spawnPoller();
    await reading(current);
    for (let round = 0; round < 3; round++) {
      // The restarted poller starts while the old one still reads (it stands by, and node
      // takes a while to start); it takes over once the killed one's lock runs out.
      const next = spawnPoller();
      // Kill the reader at a random point: syncing, idling or mid-mail.
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
      if (round === 0) {
        let open!: () => void;
        gate = new Promise((r) => (open = r));
        await new Promise((r) => setTimeout(r, 100)); // let an APPEND in flight finish
        await dovecot.restart();
        open();
      }
      if (round === 1) {
        // Lose the poller's own state (cursor, lock, heartbeat) while it runs.
        await redis.del(imapKeys.cursor(prefix, 'support'), imapKeys.lock(prefix, 'support'), imapKeys.heartbeat(prefix, 'support'));
        await new Promise((r) => setTimeout(r, 500));
      }
      // Kill whichever reads now (after the flush, either may have taken the free lock).
      const owner = await waitFor('a reader', async () => (await readHeartbeats(redis, prefix, { mailboxIds: ['support'] }))[0]?.owner);
      const victim = owner.endsWith(`:${next.pid}`) ? next : current;
      await kill9(victim);
      current = victim === current ? next : current;
      await reading(current);
    }
    await appending;
    const last = current;
    await expectEachOnce(queue, names);
    await waitFor('the cursor at the end', async () => (await readCursor(redis, prefix, 'support'))?.lastUid === TOTAL);
    // A resync later, still nothing twice.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await queue.getJobCountByTypes(...STATES)).toBe(TOTAL);
    last.kill('SIGTERM');
    expect(await exited(last)).toBe(0);
    await cleanup();
  }, 120_000);

  it('two pollers on one mailbox: one reads, the other takes over when it is killed; SIGTERM releases', async () => {
    onTestFailed(() => void process.stderr.write(logs.slice(-60).join('\n') + '\n'));
    const { prefix, queue, spawnPoller, cleanup } = await setup('pair');
    const a = spawnPoller();
    const b = spawnPoller();
    const hb = async () => (await readHeartbeats(redis, prefix, { mailboxIds: ['support'], staleAfterMs: 5000 }))[0];
    const first = await waitFor('a reader', async () => {
      const h = await hb();
      return h?.state === 'idle' && !h.stale ? h : undefined;
    }, 30_000);
    const holder = [a, b].find((c) => first.owner?.endsWith(`:${c.pid}`))!;
    const standby = holder === a ? b : a;
    expect(holder).toBeTruthy();
    // The standby never reads: it never wrote a heartbeat, the holder did.
    const c = await dovecot.client();
    for (let n = 0; n < 10; n++) await c.append('pair', testMail(`pair-${n}`));
    await expectEachOnce(queue, Array.from({ length: 10 }, (_, n) => `pair-${n}`));
    expect((await hb())?.owner).toBe(first.owner);

    await kill9(holder);
    const killedAt = Date.now();
    for (let n = 10; n < 20; n++) await c.append('pair', testMail(`pair-${n}`));
    await c.logout();
    const second = await waitFor('the takeover', async () => {
      const h = await hb();
      return h?.owner?.endsWith(`:${standby.pid}`) ? h : undefined;
    }, 30_000);
    const takeoverMs = Date.now() - killedAt;
    process.stderr.write(`poller takeover after SIGKILL: ${takeoverMs} ms (lock TTL ${LOCK_TTL_MS} ms)\n`);
    // The lock runs out at most one TTL after the holder's last renewal; the standby looks
    // again right then. A little slack for a loaded machine.
    expect(takeoverMs).toBeLessThan(LOCK_TTL_MS * 2 + 2000);
    expect(second.owner).not.toBe(first.owner);
    await expectEachOnce(queue, Array.from({ length: 20 }, (_, n) => `pair-${n}`));

    standby.kill('SIGTERM');
    expect(await exited(standby)).toBe(0);
    expect(await redis.exists(imapKeys.lock(prefix, 'support'))).toBe(0);
    expect((await hb())?.state).toBe('stopped');
    await cleanup();
  }, 90_000);
});
