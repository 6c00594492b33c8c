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
