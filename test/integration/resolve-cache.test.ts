// The identity cache over real Redis and the simulator: one Jira search per email however many
// ask at once (in one process, and across "processes" = separate cache instances), TTLs, and
// a refused token never read as "no such user".
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthError } from '../../src/core/errors.js';
import { preferredAccount } from '../../src/jira/match.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { cacheKey, createIdentityCache } from '../../src/identity/cache.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

let jira: SeededSim;
let redis: Redis;
let prefix: string;

beforeAll(async () => {
  jira = await startSeededSim({ latencyMs: 30 });
  redis = testRedis();
});
afterAll(async () => {
  await jira.close();
  redis.disconnect();
});
beforeEach(async () => {
  if (prefix) await dropPrefix(redis, prefix);
  jira.reseed();
  prefix = uniquePrefix('rcache');
});

function cache(opts: { token?: string; negativeTtlMs?: number; positiveTtlMs?: number; conn?: Redis } = {}) {
  const client = jira.client(opts.token ? { token: opts.token } : {});
  return createIdentityCache({
    redis: opts.conn ?? redis,
    prefix,
    site: 'sim',
    positiveTtlMs: opts.positiveTtlMs ?? 60_000,
    negativeTtlMs: opts.negativeTtlMs ?? 60_000,
    async lookup(email) {
      const r = await client.findUsersByEmail(email);
      return { account: preferredAccount(r.accounts), emailHidden: r.emailHidden };
    },
  });
}

describe('identity cache', () => {
  it('answers 50 concurrent lookups of one email with one Jira search, then from the cache', async () => {
    const c = cache();
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => c.resolve(i % 2 ? 'Alice@ACME.example' : 'alice@acme.example')));
    expect(new Set(got.map((g) => (g.entry.found ? g.entry.account.accountId : 'none')))).toEqual(new Set([jira.site.users.alice.accountId]));
    expect(got.filter((g) => g.source === 'jira')).toHaveLength(1);
    expect(jira.sim.counters.count('findUsers')).toBe(1);
    expect((await c.resolve('alice@acme.example')).source).toBe('cache');
    expect(jira.sim.counters.count('findUsers')).toBe(1);
  });

  it('coalesces across processes: separate caches on separate connections ask Jira once', async () => {
    const conns = [testRedis(), testRedis(), testRedis()];
    try {
      const caches = conns.map((conn) => cache({ conn }));
      const got = await Promise.all(caches.flatMap((c) => [c.resolve('nobody@nowhere.example'), c.resolve('nobody@nowhere.example')]));
      expect(got.every((g) => !g.entry.found)).toBe(true);
      expect(jira.sim.counters.count('findUsers')).toBe(1);
      expect(got.filter((g) => g.source === 'coalesced').length).toBeGreaterThanOrEqual(4);
    } finally {
      for (const c of conns) c.disconnect();
    }
  });

  it('keeps "no such user" only for the negative TTL, and an account for the positive TTL', async () => {
    const c = cache({ negativeTtlMs: 150, positiveTtlMs: 60_000 });
    expect((await c.resolve('late@joiner.example')).entry.found).toBe(false);
    expect(await redis.pttl(cacheKey(prefix, 'sim', 'late@joiner.example'))).toBeLessThanOrEqual(150);
    jira.sim.state.addAccount({ email: 'late@joiner.example', products: ['jira-software'] });
    expect((await c.resolve('late@joiner.example')).entry.found).toBe(false); // still cached
    await new Promise((r) => setTimeout(r, 200));
    const again = await c.resolve('late@joiner.example');
    expect(again.source).toBe('jira');
    expect(again.entry.found).toBe(true);
    expect(await redis.pttl(cacheKey(prefix, 'sim', 'late@joiner.example'))).toBeGreaterThan(50_000);
  });

  it('records a hidden-email match as found', async () => {
    const r = await cache().resolve('quiet@partner.example');
    expect(r.entry.found && r.entry.account.emailHidden).toBe(true);
  });

  it('never caches an anonymous answer from a refused token as "not found", and frees the lock', async () => {
    jira.sim.state.revokeToken(jira.site.admin.token);
    const c = cache();
    await expect(c.resolve('alice@acme.example')).rejects.toBeInstanceOf(AuthError);
    expect(await c.peek('alice@acme.example')).toBeUndefined();
    expect(await redis.exists(`${prefix}:idlock:sim:alice@acme.example`)).toBe(0);
  });

  it('refresh asks Jira again even when an answer is cached', async () => {
    const c = cache();
    await c.resolve('bob@partner.example');
    await c.refresh('bob@partner.example');
    expect(jira.sim.counters.count('findUsers')).toBe(2);
  });
});

describe('audit trail', () => {
  it('finds a mail by Message-ID with or without <> and a person in any case, oldest first', async () => {
    const trail = createAuditTrail({ redis, prefix });
    await trail.record({ step: 'lookup', outcome: 'not-found', email: 'ann@example.com', mail: '<m1@x>', at: '2026-01-01T00:00:01.000Z' });
    await trail.record({ step: 'create-user', outcome: 'created', email: 'ann@example.com', mail: 'm1@x', tokenAccount: 'bot@acme', jira: 'accountId 1', at: '2026-01-01T00:00:02.000Z' });
    await trail.record({ step: 'deliver-queued', outcome: 'ok', mail: 'm1@x', at: '2026-01-01T00:00:03.000Z' });
    expect((await trail.read('ANN@Example.com')).map((e) => e.step)).toEqual(['lookup', 'create-user']);
    expect((await trail.read('<m1@x>')).map((e) => e.step)).toEqual(['lookup', 'create-user', 'deliver-queued']);
    expect((await trail.read('m1@x', { limit: 1 })).map((e) => e.step)).toEqual(['deliver-queued']);
    expect(await trail.read('nobody@example.com')).toEqual([]);
    expect(await redis.pttl(`${prefix}:audit:email:ann@example.com`)).toBeGreaterThan(29 * 86_400_000);
  });

  it('keeps a bounded trail per subject', async () => {
    const trail = createAuditTrail({ redis, prefix, maxPerSubject: 10 });
    for (let i = 0; i < 300; i++) await trail.record({ step: 'lookup', outcome: 'found', email: 'busy@example.com' });
    expect(await redis.xlen(`${prefix}:audit:email:busy@example.com`)).toBeLessThan(150);
  });
});
