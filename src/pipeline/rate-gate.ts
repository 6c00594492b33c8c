// Retry-After, honoured by every process sharing the token. The queue-level rate limit
// (src/queues/worker.ts) stops workers from taking new jobs; this gate stops the jobs already
// running from sending their next request inside the window (a provision job between
// "create" and "add to group", a resolver between two lookups). One Redis key per site holds
// the window's end; a process-local copy makes the check free while the window is known.
import { RateLimitedError } from '../errors.js';
import type { Redis } from '../redis.js';
import { key } from '../redis.js';
import { metrics } from '../ops/metrics.js';

export interface RateGate {
  /** Throws RateLimitedError (remaining window) while Jira has asked us to wait. */
  check(): Promise<void>;
  /** Jira said wait `ms`: close the gate for everyone on this site. */
  trip(ms: number): Promise<void>;
  observer?: RateGateObserver;
}

/** For metrics and tests: every request let through, every window opened. */
export interface RateGateObserver {
  onPass?(operation: string): void;
  onTrip?(ms: number): void;
}

export function createRateGate(opts: { redis: Redis; prefix: string; site: string; observer?: RateGateObserver }): RateGate {
  const k = key(opts.prefix, 'jira', 'retry-after', opts.site);
  let localUntil = 0;
  const closed = (until: number) => new RateLimitedError(`waiting out Jira's Retry-After (${until - Date.now()} ms left)`, Math.max(1, until - Date.now()));
  return {
    observer: opts.observer,
    async check() {
      if (Date.now() < localUntil) throw closed(localUntil);
      const ttl = await opts.redis.pttl(k);
      if (ttl > 0) localUntil = Math.max(localUntil, Date.now() + ttl);
      // Checked again after the round trip: a 429 may have arrived in this process meanwhile.
      if (Date.now() < localUntil) throw closed(localUntil);
    },
    async trip(ms) {
      opts.observer?.onTrip?.(ms);
      const until = Date.now() + ms;
      // Time rate-limited, not the sum of every answer's Retry-After: only what extends the window.
      const longer = until - Math.max(localUntil, Date.now());
      if (longer > 0) metrics.jiraRateLimitedSeconds.inc(longer / 1000);
      localUntil = Math.max(localUntil, until);
      // Keep the longer of two windows: a shorter Retry-After must not reopen the gate early.
      const cur = await opts.redis.pttl(k);
      if (cur < ms) await opts.redis.set(k, String(until), 'PX', Math.max(1, ms));
    },
  };
}

/**
 * The same object, each method gated: checked before the call, and a RateLimitedError from
 * the call closes the gate for everyone before it is rethrown.
 */
const RECORDED = Symbol('rate-limit recorded');
/** 'tripped': Jira's 429, already counted and shared; 'closed': a gate's own refusal, no request made. */
type Marked = RateLimitedError & { [RECORDED]?: 'tripped' | 'closed' };

export function gated<T extends object>(target: T, gate: RateGate): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const v = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        try {
          await gate.check();
        } catch (e) {
          if (e instanceof RateLimitedError) (e as Marked)[RECORDED] = 'closed';
          throw e;
        }
        gate.observer?.onPass?.(String(prop));
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
        } catch (e) {
          // Clients may be gated twice (a role's own gate over the token runtime's): the
          // innermost gate records the 429 and the outer ones only tell their observer; an
          // inner gate's refusal is no 429 at all.
          if (e instanceof RateLimitedError) {
            const m = e as Marked;
            if (!m[RECORDED]) {
              m[RECORDED] = 'tripped';
              metrics.jiraRateLimited.inc({ operation: String(prop) });
              await gate.trip(e.retryAfterMs);
            } else if (m[RECORDED] === 'tripped') gate.observer?.onTrip?.(e.retryAfterMs);
          }
          throw e;
        }
      };
    },
  });
}
