// Scan every key under a prefix and every value of every type, and fail if a secret (or its
// base64, or the Basic-auth form with `email`) appears in any of them.
import { expect } from 'vitest';
import type { Redis } from 'ioredis';

export function secretForms(secrets: string[], email?: string): string[] {
  const forms = new Set<string>();
  for (const s of secrets) {
    forms.add(s);
    forms.add(Buffer.from(s).toString('base64'));
    if (email) forms.add(Buffer.from(`${email}:${s}`).toString('base64'));
  }
  return [...forms];
}

async function valuesOf(redis: Redis, key: string): Promise<string[]> {
  const type = await redis.type(key);
  switch (type) {
    case 'string':
      return [(await redis.getBuffer(key))?.toString('latin1') ?? ''];
    case 'hash':
      return Object.entries(await redis.hgetall(key)).flat();
    case 'list':
      return redis.lrange(key, 0, -1);
    case 'set':
      return redis.smembers(key);
    case 'zset':
      return redis.zrange(key, 0, -1, 'WITHSCORES');
    case 'stream': {
      const entries = await redis.xrange(key, '-', '+');
      return entries.flatMap(([id, fields]) => [id, ...fields]);
    }
    default:
      return [];
  }
}

/** Returns how many keys were scanned. */
export async function assertNoSecretUnder(redis: Redis, prefix: string, secrets: string[], email?: string): Promise<number> {
  const forms = secretForms(secrets, email);
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    for (const k of keys) {
      n++;
      const haystack = [k, ...(await valuesOf(redis, k))];
      for (const f of forms) for (const h of haystack) expect(h.includes(f), `secret found in Redis key ${k}`).toBe(false);
    }
  } while (cursor !== '0');
  return n;
}
