// Retry-After, honoured by every process sharing the token. The queue-level rate limit
// (src/queues/worker.ts) stops workers from taking new jobs; this gate stops the jobs already
// running from sending their next request inside the window (a provision job between
// "create" and "add to group", a resolver between two lookups).
//
// How the news travels: the process that reads the header closes its own gate at once
// (synchronously, before its event loop runs anything else), then one Lua call sets the
// site's Redis key to the longer window and PUBLISHes it. Other processes hear it by
// subscription and close their local gates on arrival, and every check also reads the key
// (one PTTL), so a process whose subscription was down, or that started later, still holds.
// Together: no request leaves any process more than a Redis round trip after another process
// read the header (test/integration/retry-after-shared.test.ts holds it to 25 ms).
import { RateLimitedError } from '../core/errors.js';
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';
import { metrics } from '../core/metrics.js';
import { createJiraClient, type JiraClient, type JiraClientOptions } from './client.js';
import { siteHost } from './site.js';

export interface RetryAfterGate {
  /** Throws RateLimitedError (remaining window) while Jira has asked us to wait. */
  check(): Promise<void>;
  /** Jira said wait `ms`: close the gate for everyone on this site (counts it in metrics). */
  trip(ms: number): Promise<void>;
  /**
   * The header was just read: close this process's gate now and tell the others, without
   * waiting for the answer's body or the error to travel up. trip() follows for the count.
   */
  hold(ms: number): void;
  observer?: RetryAfterObserver;
  /** Stop listening for other processes' windows (only when created with `listen`). */
  close(): Promise<void>;
}

/** For metrics and tests: every request let through, every window opened. */
export interface RetryAfterObserver {
  onPass?(operation: string): void;
  onTrip?(ms: number): void;
  /** A header said wait, read in this process (hold()), or heard from another one (news). */
  onHold?(ms: number, source: 'header' | 'news'): void;
}

// KEYS[1] the window key; ARGV: window ms, channel. Keeps the longer of two windows (a shorter
// Retry-After must not reopen the gate early) and publishes the window in ms from now.
const EXTEND_AND_PUBLISH = `
local cur = redis.call('pttl', KEYS[1])
local ms = tonumber(ARGV[1])
if cur < ms then
  redis.call('set', KEYS[1], '1', 'PX', ms)
  redis.call('publish', ARGV[2], ARGV[1])
end
return cur`;

export function retryAfterChannel(prefix: string, site: string): string {
  return key(prefix, 'jira', 'retry-after', site, 'news');
}

export function createRetryAfterGate(opts: {
  redis: Redis;
  prefix: string;
  site: string;
  observer?: RetryAfterObserver;
  /** Subscribe to other processes' windows (a second, unref'd connection). */
  listen?: boolean;
}): RetryAfterGate {
  const k = key(opts.prefix, 'jira', 'retry-after', opts.site);
  const channel = retryAfterChannel(opts.prefix, opts.site);
  let localUntil = 0;
  // How far the metric of time rate-limited has counted (hold() closes the gate before trip() counts).
  let countedUntil = 0;
  const closed = (until: number) => new RateLimitedError(`waiting out Jira's Retry-After (${until - Date.now()} ms left)`, Math.max(1, until - Date.now()));
  const closeFor = (ms: number) => {
    const until = Date.now() + ms;
    const longer = until - Math.max(localUntil, Date.now());
    localUntil = Math.max(localUntil, until);
    return longer;
  };
  const share = (ms: number) => opts.redis.eval(EXTEND_AND_PUBLISH, 1, k, String(Math.max(1, Math.round(ms))), channel);

  let sub: Redis | undefined;
  if (opts.listen) {
    sub = opts.redis.duplicate();
    // A listener must not keep a process alive that is otherwise done.
    const unref = () => (sub as unknown as { stream?: { unref?: () => void } }).stream?.unref?.();
    sub.on('connect', unref);
    sub.on('error', () => undefined); // reconnects on its own; checks still read the key meanwhile
    sub.on('message', (_ch: string, msg: string) => {
      const ms = Number(msg);
      if (Number.isFinite(ms) && ms > 0) {
        closeFor(ms);
        opts.observer?.onHold?.(ms, 'news');
      }
    });
    sub.subscribe(channel).catch(() => undefined);
  }

  return {
    observer: opts.observer,
    async check() {
      if (Date.now() < localUntil) throw closed(localUntil);
      const ttl = await opts.redis.pttl(k);
      if (ttl > 0) localUntil = Math.max(localUntil, Date.now() + ttl);
      // Checked again after the round trip: a 429 may have arrived in this process meanwhile.
      if (Date.now() < localUntil) throw closed(localUntil);
    },
    hold(ms) {
      opts.observer?.onHold?.(ms, 'header');
      if (closeFor(ms) > 0) share(ms).catch(() => undefined);
    },
    async trip(ms) {
      opts.observer?.onTrip?.(ms);
      closeFor(ms);
      // Time rate-limited, not the sum of every answer's Retry-After: only what extends the window.
      const until = Date.now() + ms;
      const longer = until - Math.max(countedUntil, Date.now());
      countedUntil = Math.max(countedUntil, until);
      if (longer > 0) metrics.jiraRateLimitedSeconds.inc(longer / 1000);
      // Redis away: this process holds its own gate; the 429 must still reach the caller as a 429.
      await share(ms).catch(() => undefined);
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
 * The same object, each method gated: checked before the call, and Jira's 429 from the call
 * closes the gate for everyone before it is rethrown. Applied once, where clients are made
 * (gatedClientMaker below); a gate's own refusal is thrown before any request is sent.
 */
export function gated<T extends object>(target: T, gate: RetryAfterGate): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const v = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        await gate.check();
        gate.observer?.onPass?.(String(prop));
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
        } catch (e) {
          if (e instanceof RateLimitedError) {
            metrics.jiraRateLimited.inc({ operation: String(prop) });
            await gate.trip(e.retryAfterMs);
          }
          throw e;
        }
      };
    },
  });
}

/**
 * Jira clients for one site, all behind its one Retry-After gate: the header closes the gate
 * as soon as it is read (hold), the 429 error counts it (trip), and with `listen` the windows
 * other processes read arrive by subscription.
 */
export function gatedClientMaker(o: { redis: Redis; prefix: string; site: string; observer?: RetryAfterObserver; listen?: boolean }): {
  gate: RetryAfterGate;
  make(opts: Omit<JiraClientOptions, 'onRetryAfter'>): JiraClient;
} {
  const gate = createRetryAfterGate({ redis: o.redis, prefix: o.prefix, site: siteHost(o.site), observer: o.observer, listen: o.listen });
  return { gate, make: (opts) => gated(createJiraClient({ ...opts, onRetryAfter: (wait) => gate.hold(wait) }), gate) };
}
