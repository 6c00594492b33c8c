// The new-sender path counted in Redis round trips and commands rather than in time
// (`npx tsx bench/new-senders.ts --round-trips`): figures the machine's load hardly moves.
import { benchPipeline } from '../pipeline.js';
import { startSlowRedis } from './slow-redis.js';
import { round } from './stats.js';

/**
 * Sequential Redis round trips between a new sender's mail being enqueued and its account being
 * ready, counted without the machine's load in the figure: resolve + provision in this process
 * (bench/pipeline.ts, Jira at 0 ms) on Redis behind a proxy that delays each round trip by
 * `delayMs`, minus the same run without the delay, over the delay. One mail per new sender,
 * fewer senders than the provisioner's concurrency, so nothing queues.
 *
 * Beside it, what does not depend on time at all: the Redis commands one new
 * sender's mail costs, counted by the proxy as the difference between a run of 2n new senders
 * and one of n (start-up, warm-up and the workers' own polling cancel out).
 */
export async function countRoundTrips(o: { redisUrl?: string; delayMs?: number; senders?: number } = {}): Promise<RoundTrips> {
  const delayMs = o.delayMs ?? 10;
  const senders = o.senders ?? 6;
  const url = new URL(o.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const target = { host: url.hostname, port: Number(url.port || 6379) };
  const run = async (redisUrl: string, n = senders) => (await benchPipeline({ mails: n, senders: n, unknown: n, latencyMs: 0, jitterMs: 0, redisUrl, warmup: 4 })).accountReadyMs.p50;
  const counted = async (n: number) => {
    const proxy = await startSlowRedis(target, 0);
    try {
      await run(proxy.url, n);
      return proxy.counts();
    } finally {
      await proxy.close();
    }
  };
  const one = await counted(senders);
  const two = await counted(2 * senders);
  const withoutDelayMs = await run(url.href);
  const slow = await startSlowRedis(target, delayMs);
  try {
    const withDelayMs = await run(slow.url);
    return {
      delayMs,
      withDelayMs,
      withoutDelayMs,
      roundTrips: round((withDelayMs - withoutDelayMs) / delayMs, 1),
      commandsPerNewSender: round((two.commands - one.commands) / senders, 1),
      byCommand: Object.fromEntries(
        [...two.byName]
          .map(([k, v]) => [k, round((v - (one.byName.get(k) ?? 0)) / senders, 1)] as const)
          .filter(([, v]) => v >= 0.5)
          .sort((x, y) => y[1] - x[1]),
      ),
    };
  } finally {
    await slow.close();
  }
}

export interface RoundTrips {
  delayMs: number;
  withDelayMs: number;
  withoutDelayMs: number;
  /** (withDelayMs - withoutDelayMs) / delayMs: sequential round trips, an upper bound (CPU time included). */
  roundTrips: number;
  /** Redis commands one new sender's mail costs from enqueue to account ready (and on to delivery). */
  commandsPerNewSender: number;
  /** The same by command name (EVALSHA by script hash: BullMQ's scripts), largest first. */
  byCommand: Record<string, number>;
}
