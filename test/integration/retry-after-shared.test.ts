// Retry-After from any answer (429, or 503 with the header) holds every client on the token,
// including ones that hear of it only through Redis: two clients with their own gates and their
// own Redis connections (as two processes have) keep sending against the simulator; once one
// reads the header, no request leaves either more than 25 ms later, until the window has passed.
// Both clients share this test's event loop: on a machine so loaded that the loop itself stalls,
// the stall (measured) is added to the 25 ms, since no code can act while its loop is stopped.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { RateLimitedError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { MAX_RETRY_AFTER_MS } from '../../src/jira/classify.js';
import { createRetryAfterGate, retryAfterKey } from '../../src/jira/retry-after.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { jiraClientFactory, type JiraClientFactory } from '../../src/token/runtime.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('rate-gate-shared');
const redis = testRedis();
const conns = [testRedis(), testRedis()];
const factories: JiraClientFactory[] = [];
let jira: SeededSim;

beforeAll(async () => {
  jira = await startSeededSim();
});
afterAll(async () => {
  for (const f of factories) await f.close();
  await jira.close();
  await dropPrefix(redis, prefix);
  for (const c of [redis, ...conns]) c.disconnect();
});

async function hammer(call: () => Promise<unknown>, until: number, seen: { refused: number; limited: number; ok: number }): Promise<void> {
  while (Date.now() < until) {
    try {
      await call();
      seen.ok++;
    } catch (e) {
      if (!(e instanceof RateLimitedError)) throw e;
      if (/waiting out/.test(e.message)) seen.refused++;
      else seen.limited++;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

describe('the shared Retry-After hold', () => {
  it.each([
    { status: 429 as const, name: '429' },
    { status: 503 as const, name: '503 with Retry-After' },
  ])('after a $name met by one client, neither sends inside the window (25 ms for the news to travel)', { timeout: 20_000 }, async ({ status }) => {
    jira.reseed();
    const config = parseConfig({ jira: { site: jira.sim.url }, mailboxes: [{ id: 'support' }] }, { MAILROOM_PREFIX: prefix });
    const creds = { email: jira.site.admin.email, token: jira.site.admin.token, accountId: jira.site.admin.accountId, expiresAt: '2099-01-01T00:00:00Z', version: 1 };
    // When a header was read, and when each request left (the gate let it through).
    const headers: number[] = [];
    const passes: number[] = [];
    const observer = { onHold: (_ms: number, source: string) => source === 'header' && headers.push(Date.now()), onPass: () => passes.push(Date.now()) };
    const fa = jiraClientFactory(config, silentLogger, conns[0], { observer });
    const fb = jiraClientFactory(config, silentLogger, conns[1], { observer });
    factories.push(fa, fb);
    const a = fa(creds);
    const b = fb(creds);
    const seenA = { refused: 0, limited: 0, ok: 0 };
    const seenB = { refused: 0, limited: 0, ok: 0 };
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    const end = Date.now() + 2_500;
    setTimeout(() => jira.sim.faults.rateLimit({ count: 1, retryAfterSec: 1, status, operation: 'getCurrentUser' }), 300);
    // Four requests in flight per client, all the time.
    await Promise.all([
      ...Array.from({ length: 4 }, () => hammer(() => a.myself(), end, seenA)),
      ...Array.from({ length: 4 }, () => hammer(() => b.myself(), end, seenB)),
    ]);
    // Exactly one answer said wait; the client that did not get it was held all the same.
    expect(seenA.limited + seenB.limited).toBe(1);
    expect(seenA.refused).toBeGreaterThan(0);
    expect(seenB.refused).toBeGreaterThan(0);
    lag.disable();
    const stall = Math.ceil(lag.max / 1e6);
    expect(headers).toHaveLength(1);
    const late = passes.filter((t) => t > headers[0]! + 25 + stall && t < headers[0]! + 1000 - 25);
    expect(late.map((t) => t - headers[0]!)).toEqual([]);
    // And both went on after the window.
    expect(seenA.ok).toBeGreaterThan(10);
    expect(seenB.ok).toBeGreaterThan(10);
  });

  it('a 429 on one issue\'s writes (jira-per-issue-on-write) holds that issue in both processes, and nothing else', { timeout: 20_000 }, async () => {
    jira.reseed();
    const config = parseConfig({ jira: { site: jira.sim.url }, mailboxes: [{ id: 'support' }] }, { MAILROOM_PREFIX: `${prefix}-issue` });
    const creds = { email: jira.site.admin.email, token: jira.site.admin.token, accountId: jira.site.admin.accountId, expiresAt: '2099-01-01T00:00:00Z', version: 1 };
    const project = jira.sim.state.project('SUP')!;
    const busy = jira.sim.state.createIssue(project, { summary: 'busy' });
    const quiet = jira.sim.state.createIssue(project, { summary: 'quiet' });
    const fa = jiraClientFactory(config, silentLogger, conns[0]);
    const fb = jiraClientFactory(config, silentLogger, conns[1]);
    factories.push(fa, fb);
    const a = fa(creds);
    const b = fb(creds);
    const doc: AdfDoc = { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'hi' }] }] };
    jira.sim.faults.rateLimit({ count: 1, retryAfterSec: 3, reason: 'jira-per-issue-on-write', issue: busy.key, operation: 'addComment' });
    const limited = await a.addComment(busy.key, doc).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).scope).toBe('issue');
    // The other process, on its own connection: other issues, other endpoints go on at once...
    await expect(b.addComment(quiet.key, doc)).resolves.toMatchObject({ id: expect.any(String) });
    await expect(b.setIssueProperty(quiet.key, 'x', { a: 1 })).resolves.toBeUndefined();
    await expect(b.myself()).resolves.toMatchObject({ accountId: jira.site.admin.accountId });
    // ...while the busy issue is held there too, without a request leaving.
    const before = jira.sim.counters.snapshot().requests;
    await expect(b.addComment(busy.key, doc)).rejects.toThrow(/waiting out Jira's Retry-After for writes to issue/);
    await expect(a.setIssueProperty(busy.key, 'x', { a: 1 })).rejects.toBeInstanceOf(RateLimitedError);
    expect(jira.sim.counters.snapshot().requests).toEqual(before);
    expect(busy.comments).toHaveLength(0);
    expect(quiet.comments).toHaveLength(1);
    expect(jira.sim.counters.violations('earlyRetry')).toBe(0);
  });

  it('a process hears of the window by subscription, even when its read of the Redis key would miss it', { timeout: 10_000 }, async () => {
    const site = 'pubsub.example';
    const a = createRetryAfterGate({ redis: conns[0]!, prefix, site });
    let heard: () => void = () => undefined;
    const news = new Promise<void>((r) => (heard = r));
    const b = createRetryAfterGate({ redis: conns[1]!, prefix, site, listen: true, observer: { onHold: (_ms, source) => source === 'news' && heard() } });
    const deafConn = testRedis();
    const deaf = createRetryAfterGate({ redis: deafConn, prefix, site });
    try {
      // Tell the news until b's subscription is up and b has heard it.
      const teller = setInterval(() => a.hold(5_000), 50);
      a.hold(5_000);
      await news;
      clearInterval(teller);
      await conns[0]!.ping(); // a's last tellings have landed (one connection answers in order)
      // The key goes (evicted, a failover to a replica without it): only the news is left.
      await redis.del(`${prefix}:jira:retry-after:${site}`);
      await expect(b.check()).rejects.toBeInstanceOf(RateLimitedError);
      await expect(deaf.check()).resolves.toBeUndefined();
    } finally {
      await b.close();
      deafConn.disconnect();
    }
  });

  it('a window longer than the cap, stored by an older version or by hand, holds an hour at most and is cut in Redis too', { timeout: 10_000 }, async () => {
    const site = 'far-future.example';
    const k = retryAfterKey(prefix, site);
    // What a Retry-After date in 9999 left before the cap: a key for thousands of years.
    await redis.set(k, '1', 'PX', 1e14);
    const gate = createRetryAfterGate({ redis: conns[0]!, prefix, site });
    const e = await gate.check().then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(RateLimitedError);
    expect((e as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(MAX_RETRY_AFTER_MS);
    await waitUntil(async () => (await redis.pttl(k)) <= MAX_RETRY_AFTER_MS);
    expect(await redis.pttl(k)).toBeGreaterThan(0);
    // A process's own trip (a caller's figure) is capped before it is shared.
    const other = retryAfterKey(prefix, 'far-trip.example');
    await createRetryAfterGate({ redis: conns[1]!, prefix, site: 'far-trip.example' }).trip(1e12);
    expect(await redis.pttl(other)).toBeLessThanOrEqual(MAX_RETRY_AFTER_MS);
  });
});

async function waitUntil(ok: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('not within 5 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}
