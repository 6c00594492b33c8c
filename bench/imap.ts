// `npx tsx bench/imap.ts [--appends 30] [--gap 300] [--burst 1000]`: how long from an IMAP
// APPEND to the mail-inbound job, with the poller in IDLE on a throwaway Dovecot (loopback,
// the filesystem mail store as configured by default), one mail at a time; then a burst of
// mails appended as fast as four connections can, timed until each has exactly one job.
// Target (issue 5): p99 under 1 s. The floor is Dovecot's own IDLE notification delay.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { parseConfig } from '../src/config/load.js';
import { startPoller } from '../src/imap/poller.js';
import { createLogger } from '../src/core/log.js';
import { createMailStore } from '../src/mail/store.js';
import { mailInbound } from '../src/queues/catalog.js';
import { pollerTestConfig, startDovecot, testMail } from '../test/helpers/dovecot.js';

export interface ImapBenchOptions {
  /** Mails appended one at a time, each waited for (latency). */
  appends?: number;
  /** Pause between them, so that each arrives while the poller idles. */
  gapMs?: number;
  /** Mails appended at once afterwards (throughput and exactly-once); 0 to skip. */
  burst?: number;
  redisUrl?: string;
  log?: (line: string) => void;
}

export interface ImapBenchResult {
  appends: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  burst: number;
  burstMailsPerSec: number;
  /** Whether the burst gave exactly one job per mail. */
  burstExactlyOnce: boolean;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function benchImap(opts: ImapBenchOptions = {}): Promise<ImapBenchResult> {
  const appends = opts.appends ?? 30;
  const gapMs = opts.gapMs ?? 300;
  const burst = opts.burst ?? 1000;
  const log = opts.log ?? (() => undefined);
  const dovecot = await startDovecot();
  const dir = await mkdtemp(join(tmpdir(), 'mrbench-imap-'));
  const prefix = `{bench-imap-${process.pid}-${Date.now()}}`;
  const redis = new Redis(opts.redisUrl ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  const { raw, env } = pollerTestConfig(dovecot, { storeDir: join(dir, 'mail'), mailbox: { resyncInterval: '3m' } });
  const config = { ...parseConfig(raw, env), prefix };

  // uid -> when its job was added, and waiters for it.
  const enqueuedAt = new Map<number, number>();
  const waiters = new Map<number, () => void>();
  const poller = startPoller({
    config,
    redis,
    store: createMailStore(config),
    logger: createLogger({ level: 'error' }),
    onEnqueued: (_mailbox, e) => {
      enqueuedAt.set(e.uid, performance.now());
      waiters.get(e.uid)?.();
    },
  });
  const client = await dovecot.client();
  try {
    // Wait until the poller idles on an empty mailbox.
    for (let i = 0; i < 200 && !poller.readers[0]?.reading; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));

    const latencies: number[] = [];
    for (let n = 0; n < appends; n++) {
      const t0 = performance.now();
      const res = await client.append('INBOX', testMail(`bench-${n}`));
      const uid = res ? res.uid : undefined;
      if (!uid) throw new Error('the server did not report the appended UID (UIDPLUS)');
      if (!enqueuedAt.has(uid)) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`mail UID ${uid} was not enqueued within 30 s`)), 30_000);
          waiters.set(uid, () => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      latencies.push(enqueuedAt.get(uid)! - t0);
      await new Promise((r) => setTimeout(r, gapMs));
    }
    latencies.sort((a, b) => a - b);
    const result: ImapBenchResult = {
      appends,
      p50Ms: Math.round(percentile(latencies, 50)),
      p99Ms: Math.round(percentile(latencies, 99)),
      maxMs: Math.round(latencies[latencies.length - 1] ?? NaN),
      burst,
      burstMailsPerSec: 0,
      burstExactlyOnce: true,
    };
    log(`latency over ${appends} appends: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms`);

    if (burst > 0) {
      const before = enqueuedAt.size;
      const t0 = performance.now();
      const clients = [client, ...(await Promise.all([1, 2, 3].map(() => dovecot.client())))];
      let next = 0;
      await Promise.all(
        clients.map(async (c) => {
          while (next < burst) await c.append('INBOX', testMail(`burst-${next++}`));
        }),
      );
      for (const c of clients.slice(1)) await c.logout();
      while (enqueuedAt.size < before + burst) await new Promise((r) => setTimeout(r, 20));
      const seconds = (performance.now() - t0) / 1000;
      result.burstMailsPerSec = Math.round(burst / seconds);
      const queue = new Queue(mailInbound.name, { connection: redis, prefix });
      const jobs = await queue.getJobs(['waiting'], 0, -1);
      const ids = new Set(jobs.map((j) => (j.data as { record: { messageId?: string } }).record.messageId));
      result.burstExactlyOnce = jobs.length === appends + burst && ids.size === jobs.length;
      await queue.close();
      log(`burst of ${burst}: all enqueued in ${seconds.toFixed(1)} s (${result.burstMailsPerSec} mails/s), exactly once: ${result.burstExactlyOnce}`);
    }
    return result;
  } finally {
    await client.logout().catch(() => client.close());
    await poller.stop();
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    await dovecot.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      appends: { type: 'string', default: '30' },
      gap: { type: 'string', default: '300' },
      burst: { type: 'string', default: '1000' },
    },
  });
  const r = await benchImap({
    appends: Number(values.appends),
    gapMs: Number(values.gap),
    burst: Number(values.burst),
    log: (line) => console.error(`bench imap: ${line}`),
  });
  console.log(JSON.stringify(r));
  if (r.p99Ms >= 1000) console.error('bench imap: p99 is over the 1 s target');
}
