// A real Redis for integration tests, with a prefix unique to the test file so files running
// in parallel (and installs on the same Redis) never see each other's keys. The Redis is the
// one the environment names, in any form (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES:
// see src/core/redis-target.ts), so the same tests run on one server, Sentinel and Cluster.
import { randomBytes } from 'node:crypto';
import { createRedis, deleteByPrefix, describeTarget, parseRedisTarget, type Redis, type RedisTarget } from '../../src/core/redis.js';

const REDIS_VARS = [
  'REDIS_URL',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_MASTER',
  'REDIS_CLUSTER_NODES',
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_USERNAME',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_TLS',
  'REDIS_DB',
] as const;

/** The variables that name the tests' Redis, to pass on to the processes a test starts. */
export const REDIS_ENV: Record<string, string> = Object.fromEntries(REDIS_VARS.filter((k) => process.env[k]).map((k) => [k, process.env[k]!]));

function target(): RedisTarget {
  const { target, problems } = parseRedisTarget(process.env);
  if (!target) throw new Error(`the tests' Redis is misconfigured: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return target;
}

export const REDIS_TARGET = target();
/** The plain form's URL (the default 127.0.0.1:6379), or a description of the form in use. */
export const REDIS_URL = REDIS_TARGET.form === 'url' ? REDIS_TARGET.url : describeTarget(REDIS_TARGET);

export function uniquePrefix(label: string): string {
  return `{mrtest-${label}-${randomBytes(4).toString('hex')}}`;
}

export function testRedis(opts: { forWorker?: boolean } = {}): Redis {
  return createRedis(REDIS_TARGET, { forWorker: opts.forWorker, name: 'mailroom-test' });
}

/** Delete every key under a test's prefix. */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  await deleteByPrefix(redis, prefix);
}
