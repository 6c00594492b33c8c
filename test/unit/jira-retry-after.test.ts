// The Retry-After gate's local half (no Redis): a fake Redis answering PTTL lets the test pin
// the order of events that matters — a 429 arriving while another check is in flight.
import { describe, expect, it } from 'vitest';
import { RateLimitedError, rateLimitScopeOf } from '../../src/core/errors.js';
import type { Redis } from '../../src/core/redis.js';
import { callScope, createRetryAfterGate, gated, retryAfterKey, scopeFor, SITE_SCOPE } from '../../src/jira/retry-after.js';

function fakeRedis() {
  const keys = new Map<string, number>();
  let release: (() => void) | undefined;
  const r = {
    hold: false,
    async pttl(k: string) {
      if (r.hold) await new Promise<void>((res) => (release = res));
      const until = keys.get(k);
      return until && until > Date.now() ? until - Date.now() : -2;
    },
    async set(k: string, _v: string, _px: string, ms: number) {
      keys.set(k, Date.now() + ms);
      return 'OK';
    },
    // The gate's one script: keep the longer window (and publish it, which no one hears here).
    async eval(_script: string, _n: number, k: string, ms: string) {
      const cur = await r.pttl(k);
      if (cur < Number(ms)) keys.set(k, Date.now() + Number(ms));
      return cur;
    },
    release: () => release?.(),
  };
  return r;
}

describe('rate gate', () => {
  it('closes for the window after a 429 and reopens after it', async () => {
    const redis = fakeRedis();
    const gate = createRetryAfterGate({ redis: redis as unknown as Redis, prefix: 'p', site: 's' });
    await gate.check();
    await gate.trip(80);
    await expect(gate.check()).rejects.toBeInstanceOf(RateLimitedError);
    await new Promise((r) => setTimeout(r, 100));
    await expect(gate.check()).resolves.toBeUndefined();
  });

  it('hold(): the header closes this process\'s gate at once, before any Redis answer', async () => {
    const redis = fakeRedis();
    const gate = createRetryAfterGate({ redis: redis as unknown as Redis, prefix: 'p', site: 's' });
    redis.hold = true; // Redis is slow: the local gate must not wait for it
    gate.hold(1000);
    await expect(gate.check()).rejects.toBeInstanceOf(RateLimitedError);
    redis.hold = false;
    redis.release();
  });

  it('refuses a check that was in flight when a 429 arrived in this process', async () => {
    const redis = fakeRedis();
    const gate = createRetryAfterGate({ redis: redis as unknown as Redis, prefix: 'p', site: 's' });
    redis.hold = true;
    const pending = gate.check();
    await new Promise((r) => setTimeout(r, 5));
    redis.hold = false;
    await gate.trip(1000);
    redis.release();
    await expect(pending).rejects.toBeInstanceOf(RateLimitedError);
  });

  /** A client whose every call Jira answers with a 429 of 500 ms, gated by `gate`; counts the calls. */
  function answered429(gate: ReturnType<typeof createRetryAfterGate>) {
    const client = gated(
      {
        calls: 0,
        async search() {
          client.calls++;
          throw new RateLimitedError('429', 500);
        },
      },
      gate,
    );
    return client;
  }

  it('gated(): a RateLimitedError from a call closes the gate for the next call, which is never made', async () => {
    const client = answered429(createRetryAfterGate({ redis: fakeRedis() as unknown as Redis, prefix: 'p', site: 's' }));
    await expect(client.search()).rejects.toBeInstanceOf(RateLimitedError);
    await expect(client.search()).rejects.toThrow(/Retry-After/);
    expect(client.calls).toBe(1);
  });

  it('gated(): with Redis unable to share the window, the caller still gets the 429 and this process still holds', async () => {
    const redis = { ...fakeRedis(), eval: async () => Promise.reject(new Error('Connection is closed.')) };
    const trips: number[] = [];
    const client = answered429(createRetryAfterGate({ redis: redis as unknown as Redis, prefix: 'p', site: 's', observer: { onTrip: (ms) => trips.push(ms) } }));
    await expect(client.search()).rejects.toBeInstanceOf(RateLimitedError);
    expect(trips).toEqual([500]);
    await expect(client.search()).rejects.toThrow(/Retry-After/);
    expect(client.calls).toBe(1);
  });
});

describe('rate-limit scopes (RateLimit-Reason, docs/jira-rate-limits.md)', () => {
  it.each([
    ['jira-per-issue-on-write', 'issue'],
    ['JIRA-BURST-BASED', 'endpoint'],
    ['jira-quota-tenant-based', 'site'],
    ['jira-quota-global-based', 'site'],
    [undefined, 'site'],
    ['something new', 'site'],
  ])('%s holds the %s', (reason, scope) => {
    expect(rateLimitScopeOf(reason)).toBe(scope);
    expect(new RateLimitedError('429', 1, reason).scope).toBe(scope);
  });

  it.each([
    ['jira-per-issue-on-write', callScope('addComment', ['sup-7', {}]), 'issue:SUP-7'],
    // A per-issue answer to a call with no issue holds its endpoint, not the site.
    ['jira-per-issue-on-write', callScope('createIssue', [{}]), 'op:createIssue'],
    ['jira-burst-based', callScope('addComment', ['SUP-7', {}]), 'op:addComment'],
    ['jira-quota-global-based', callScope('addComment', ['SUP-7', {}]), SITE_SCOPE],
    [undefined, undefined, SITE_SCOPE],
  ])('%s on %j closes %j', (reason, call, scope) => {
    expect(scopeFor(reason, call)).toBe(scope);
  });

  it('a window on one issue holds that issue\'s calls only; the site\'s holds all', async () => {
    const gate = createRetryAfterGate({ redis: fakeRedis() as unknown as Redis, prefix: 'p', site: 's' });
    gate.hold(1000, 'issue:SUP-1');
    await expect(gate.check(callScope('setIssueProperty', ['sup-1']))).rejects.toThrow(/writes to issue SUP-1/);
    await expect(gate.check(callScope('setIssueProperty', ['SUP-2']))).resolves.toBeUndefined();
    await expect(gate.check(callScope('searchJql', []))).resolves.toBeUndefined();
    gate.hold(1000);
    await expect(gate.check(callScope('searchJql', []))).rejects.toBeInstanceOf(RateLimitedError);
  });

  it('retryAfterKey: the site keeps the key older versions read', () => {
    expect(retryAfterKey('p', 'acme.atlassian.net')).toBe('p:jira:retry-after:acme.atlassian.net');
    expect(retryAfterKey('p', 'acme.atlassian.net', 'issue:SUP-1')).toBe('p:jira:retry-after:acme.atlassian.net:issue:SUP-1');
  });
});
