// Redis connections. BullMQ workers need `maxRetriesPerRequest: null` (blocking commands must
// not fail while Redis restarts); short-lived CLI connections fail fast instead.
import { Redis, type RedisOptions } from 'ioredis';

export type { Redis } from 'ioredis';

export function createRedis(url: string, opts: { forWorker?: boolean; name?: string } = {}): Redis {
  const options: RedisOptions = {
    connectionName: opts.name,
    maxRetriesPerRequest: opts.forWorker ? null : 3,
    enableReadyCheck: true,
    // Reconnect quickly but not in a hot loop: 50 ms, 100 ms, ... capped at 2 s.
    retryStrategy: (times) => Math.min(times * 50, 2000),
  };
  return new Redis(url, options);
}

/**
 * Mailroom's own keys live under the same prefix as BullMQ's queues. A `{hash-tagged}` prefix
 * keeps all of an install's keys in one Redis Cluster slot, which BullMQ's Lua scripts need.
 */
export function key(prefix: string, ...parts: string[]): string {
  return [prefix, ...parts].join(':');
}

/** Delete every key under a prefix (SCAN, never KEYS, so Redis keeps serving meanwhile). */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
