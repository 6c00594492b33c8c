// Retry-After, honoured by every process sharing the token, at the scope Jira names. Jira
// Cloud's limits hold different things (docs/jira-rate-limits.md): a per-issue write limit
// (RateLimit-Reason jira-per-issue-on-write) holds writes to that issue, the burst limit
// (jira-burst-based) that endpoint and method, anything else the site. Each scope is a window:
// a call waits only for the windows it falls under (the site, its endpoint, its issue). The
// queue-level rate limit (src/queues/worker.ts) now stands in for the site's window alone; a
// job held by a narrower window waits by itself (delayed, no attempt spent).
//
// How the news travels: the process that reads the header closes its own window at once
// (synchronously, before its event loop runs anything else), then one Lua call sets the
// window's Redis key to the longer window and PUBLISHes it. Other processes hear it by
// subscription and close their local windows on arrival, and every check also reads the keys
// (one PTTL each, sent together), so a process whose subscription was down, or that started
// later, still holds. Together: no request leaves any process more than a Redis round trip
// after another process read the header (test/integration/retry-after-shared.test.ts holds it
// to 25 ms).
import { AsyncLocalStorage } from 'node:async_hooks';
import { BURST_REASON, ISSUE_WRITE_REASON, RateLimitedError, rateLimitScopeOf } from '../core/errors.js';
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';
import { metrics } from '../core/metrics.js';
import { MAX_RETRY_AFTER_MS } from './classify.js';
import { createJiraClient, type JiraClient, type JiraClientOptions } from './client.js';
import { siteHost } from './site.js';

/**
 * What one call may be held by: the site, its endpoint and method (the client method names
 * both), and the issue it writes to when it has one (docs/jira-rate-limits.md).
 */
export interface CallScope {
  operation: string;
  issue?: string;
}

/** A window's name: '' is the site (the key and news format older versions use), else `op:<operation>` or `issue:<KEY>`. */
export type ScopeName = string;

export const SITE_SCOPE: ScopeName = '';

/** The window Jira's answer to `call` closes, by its RateLimit-Reason. */
export function scopeFor(reason: string | undefined, call: CallScope | undefined): ScopeName {
  const scope = rateLimitScopeOf(reason);
  if (scope === 'issue' && call?.issue) return `issue:${call.issue.toUpperCase()}`;
  if (scope !== 'site' && call) return `op:${call.operation}`;
  return SITE_SCOPE;
}

/** The windows a call must find open. */
function scopesOf(call: CallScope | undefined): ScopeName[] {
  if (!call) return [SITE_SCOPE];
  return [SITE_SCOPE, `op:${call.operation}`, ...(call.issue ? [`issue:${call.issue.toUpperCase()}`] : [])];
}

function reasonOf(scope: ScopeName): string | undefined {
  if (scope.startsWith('issue:')) return ISSUE_WRITE_REASON;
  if (scope.startsWith('op:')) return BURST_REASON;
  return undefined;
}

function describeScope(scope: ScopeName): string {
  if (scope.startsWith('issue:')) return ` for writes to issue ${scope.slice(6)}`;
  if (scope.startsWith('op:')) return ` for Jira ${scope.slice(3)}`;
  return '';
}

export interface RetryAfterGate {
  /** Throws RateLimitedError (remaining window) while Jira has asked us to wait, in any scope `call` falls under (the site when absent). */
  check(call?: CallScope): Promise<void>;
  /** Jira said wait `ms` in `scope` (the site when absent): close it for everyone (counts it in metrics). */
  trip(ms: number, scope?: ScopeName): Promise<void>;
  /**
   * The header was just read: close this process's window now and tell the others, without
   * waiting for the answer's body or the error to travel up. trip() follows for the count.
   */
  hold(ms: number, scope?: ScopeName): void;
  observer?: RetryAfterObserver;
  /** Stop listening for other processes' windows (only when created with `listen`). */
  close(): Promise<void>;
}

/** For metrics and tests: every request let through, every window opened. */
export interface RetryAfterObserver {
  /**
   * A request let through. `checkedAt` is when the check that let it through began (ms since
   * the epoch): that check saw every window this process knew, or Redis held, by then.
   */
  onPass?(operation: string, checkedAt: number): void;
  onTrip?(ms: number, scope?: ScopeName): void;
  /** A header said wait, read in this process (hold()), or heard from another one (news). */
  onHold?(ms: number, source: 'header' | 'news', scope?: ScopeName): void;
}

// KEYS[1] the window key; ARGV: window ms, channel, news. Keeps the longer of two windows (a
// shorter Retry-After must not reopen the gate early) and publishes the news: the window in ms
// from now, then the scope's name for a window below the site ("1500" alone is the site).
const EXTEND_AND_PUBLISH = `
local cur = redis.call('pttl', KEYS[1])
local ms = tonumber(ARGV[1])
if cur < ms then
  redis.call('set', KEYS[1], '1', 'PX', ms)
  redis.call('publish', ARGV[2], ARGV[3])
end
return cur`;

export function retryAfterChannel(prefix: string, site: string): string {
  return key(prefix, 'jira', 'retry-after', site, 'news');
}

/** The Redis key of one window (the site's is the key older versions read). */
export function retryAfterKey(prefix: string, site: string, scope: ScopeName = SITE_SCOPE): string {
  const base = key(prefix, 'jira', 'retry-after', site);
  return scope === SITE_SCOPE ? base : `${base}:${scope}`;
}

/** "1500" or "1500 issue:SUP-1": the window and its scope, as published. */
function parseNews(msg: string): { ms: number; scope: ScopeName } | undefined {
  const m = /^(\d+)(?: ((?:op|issue):\S+))?$/.exec(msg.trim());
  if (!m) return undefined;
  // Another process's news is capped like a header read here (an older version did not cap it).
  const ms = Math.min(Number(m[1]), MAX_RETRY_AFTER_MS);
  return ms > 0 ? { ms, scope: m[2] ?? SITE_SCOPE } : undefined;
}

/** This process's windows, by scope: until when each is closed. */
function localWindows() {
  // Windows below the site are few and short; expired ones are dropped as they are met.
  const untilOf = new Map<ScopeName, number>();
  const until = (scope: ScopeName) => untilOf.get(scope) ?? 0;
  return {
    /** Close `scope` for `ms` from now; returns by how much that extended it. */
    close(ms: number, scope: ScopeName): number {
      const at = Date.now() + ms;
      const longer = at - Math.max(until(scope), Date.now());
      untilOf.set(scope, Math.max(until(scope), at));
      return longer;
    },
    /** The longest-held of `scopes` still closed, if any. */
    held(scopes: ScopeName[]): { scope: ScopeName; at: number } | undefined {
      const now = Date.now();
      let worst: { scope: ScopeName; at: number } | undefined;
      for (const s of scopes) {
        const at = until(s);
        if (at <= now) {
          if (s !== SITE_SCOPE) untilOf.delete(s);
          continue;
        }
        if (!worst || at > worst.at) worst = { scope: s, at };
      }
      return worst;
    },
  };
}

/** Hear other processes' windows on `channel` (a second, unref'd connection). */
function listenForNews(redis: Redis, channel: string, heard: (ms: number, scope: ScopeName) => void): Redis {
  const sub = redis.duplicate();
  // A listener must not keep a process alive that is otherwise done.
  const unref = () => (sub as unknown as { stream?: { unref?: () => void } }).stream?.unref?.();
  sub.on('connect', unref);
  sub.on('error', () => undefined); // reconnects on its own; checks still read the keys meanwhile
  sub.on('message', (_ch: string, msg: string) => {
    const news = parseNews(msg);
    if (news) heard(news.ms, news.scope);
  });
  sub.subscribe(channel).catch(() => undefined);
  return sub;
}

export function createRetryAfterGate(opts: {
  redis: Redis;
  prefix: string;
  site: string;
  observer?: RetryAfterObserver;
  /** Subscribe to other processes' windows (a second, unref'd connection). */
  listen?: boolean;
}): RetryAfterGate {
  const channel = retryAfterChannel(opts.prefix, opts.site);
  const windows = localWindows();
  // How far the metric of time rate-limited has counted, per scope (hold() closes before trip() counts).
  const countedUntil = new Map<ScopeName, number>();
  const closed = (held: { scope: ScopeName; at: number }) =>
    new RateLimitedError(`waiting out Jira's Retry-After${describeScope(held.scope)} (${held.at - Date.now()} ms left)`, Math.max(1, held.at - Date.now()), reasonOf(held.scope));
  const share = (ms: number, scope: ScopeName) => {
    const w = String(Math.max(1, Math.round(ms)));
    return opts.redis.eval(EXTEND_AND_PUBLISH, 1, retryAfterKey(opts.prefix, opts.site, scope), w, channel, scope === SITE_SCOPE ? w : `${w} ${scope}`);
  };
  let sub = opts.listen
    ? listenForNews(opts.redis, channel, (ms, scope) => {
        windows.close(ms, scope);
        opts.observer?.onHold?.(ms, 'news', scope);
      })
    : undefined;

  return {
    observer: opts.observer,
    async check(call) {
      const scopes = scopesOf(call);
      let held = windows.held(scopes);
      if (held) throw closed(held);
      // One PTTL per scope, sent together: about one round trip.
      const ttls = await Promise.all(scopes.map((s) => opts.redis.pttl(retryAfterKey(opts.prefix, opts.site, s))));
      ttls.forEach((ttl, i) => {
        if (ttl <= 0) return;
        // A window longer than any answer may ask for was written before the cap (a date in 9999
        // kept its key for ever, restarts included) or by hand: it is cut to the cap, in Redis too.
        if (ttl > MAX_RETRY_AFTER_MS) opts.redis.pexpire(retryAfterKey(opts.prefix, opts.site, scopes[i]!), MAX_RETRY_AFTER_MS).catch(() => undefined);
        windows.close(Math.min(ttl, MAX_RETRY_AFTER_MS), scopes[i]!);
      });
      // Checked again after the round trip: a 429 may have arrived in this process meanwhile.
      held = windows.held(scopes);
      if (held) throw closed(held);
    },
    hold(wanted, scope = SITE_SCOPE) {
      const ms = Math.min(wanted, MAX_RETRY_AFTER_MS);
      opts.observer?.onHold?.(ms, 'header', scope);
      if (windows.close(ms, scope) > 0) share(ms, scope).catch(() => undefined);
    },
    async trip(wanted, scope = SITE_SCOPE) {
      const ms = Math.min(wanted, MAX_RETRY_AFTER_MS);
      opts.observer?.onTrip?.(ms, scope);
      windows.close(ms, scope);
      // Time rate-limited (the site's), not the sum of every answer's Retry-After: only what extends the window.
      const at = Date.now() + ms;
      const longer = at - Math.max(countedUntil.get(scope) ?? 0, Date.now());
      countedUntil.set(scope, Math.max(countedUntil.get(scope) ?? 0, at));
      if (longer > 0 && scope === SITE_SCOPE) metrics.jiraRateLimitedSeconds.inc(longer / 1000);
      // Redis away: this process holds its own gate; the 429 must still reach the caller as a 429.
      await share(ms, scope).catch(() => undefined);
    },
    async close() {
      if (!sub) return;
      const s = sub;
      sub = undefined;
      s.disconnect();
    },
  };
}

/**
 * The client methods whose first argument is the issue they act on: their calls are also held
 * by that issue's window (Jira's per-issue write limit).
 */
const ISSUE_METHODS = new Set([
  'getIssue',
  'getWatchers',
  'getRequestParticipants',
  'addComment',
  'addRequestComment',
  'addAttachment',
  'setIssueProperty',
  'getIssueProperty',
  'transitionIssue',
  'getTransitions',
  'linkIssues',
]);

export function callScope(method: string, args: unknown[]): CallScope {
  const first = args[0];
  return ISSUE_METHODS.has(method) && typeof first === 'string' && first ? { operation: method, issue: first } : { operation: method };
}

/**
 * The same object, each method gated: checked before the call against every window it falls
 * under, and Jira's 429 from the call closes the window its RateLimit-Reason names for everyone
 * before it is rethrown. Applied once, where clients are made (gatedClientMaker below); a
 * gate's own refusal is thrown before any request is sent. `calls` carries the call's scope to
 * the header callback (hold), which runs inside the call.
 */
export function gated<T extends object>(target: T, gate: RetryAfterGate, calls?: AsyncLocalStorage<CallScope>): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const v = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        const call = callScope(String(prop), args);
        const checkedAt = Date.now();
        await gate.check(call);
        gate.observer?.onPass?.(String(prop), checkedAt);
        try {
          const run = () => (v as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
          return await (calls ? calls.run(call, run) : run());
        } catch (e) {
          if (e instanceof RateLimitedError) {
            metrics.jiraRateLimited.inc({ operation: String(prop) });
            await gate.trip(e.retryAfterMs, scopeFor(e.reason, call));
          }
          throw e;
        }
      };
    },
  });
}

/**
 * Jira clients for one site, all behind its Retry-After windows: the header closes the window
 * its RateLimit-Reason names as soon as it is read (hold), the 429 error counts it (trip), and
 * with `listen` the windows other processes read arrive by subscription.
 */
export function gatedClientMaker(o: { redis: Redis; prefix: string; site: string; observer?: RetryAfterObserver; listen?: boolean }): {
  gate: RetryAfterGate;
  make(opts: Omit<JiraClientOptions, 'onRetryAfter'>): JiraClient;
} {
  const gate = createRetryAfterGate({ redis: o.redis, prefix: o.prefix, site: siteHost(o.site), observer: o.observer, listen: o.listen });
  const calls = new AsyncLocalStorage<CallScope>();
  return {
    gate,
    make: (opts) => gated(createJiraClient({ ...opts, onRetryAfter: (wait, reason) => gate.hold(wait, scopeFor(reason, calls.getStore())) }), gate, calls),
  };
}
