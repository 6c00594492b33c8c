// A real Redis for integration tests, with a prefix unique to the test file so files running
// in parallel (and installs on the same Redis) never see each other's keys.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { deleteByPrefix } from '../../src/redis.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function uniquePrefix(label: string): string {
  return `{mrtest-${label}-${randomBytes(4).toString('hex')}}`;
}

export function testRedis(opts: { forWorker?: boolean } = {}): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: opts.forWorker ? null : 3 });
}

/** Delete every key under a test's prefix. */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  await deleteByPrefix(redis, prefix);
}
