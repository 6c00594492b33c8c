// /readyz: a list of pluggable checks. Each answers ok or not with a detail a person can act
// on; every check runs with a timeout, because a hung dependency must make the service
// unready within seconds, not hang the probe.
import type { Redis } from '../core/redis.js';
import { formatRedisWhere, redisWhere } from './redis-where.js';

export interface CheckResult {
  ok: boolean;
  /** Ready, but part of the work is held (a project behind its permission breaker): the detail says which. */
  degraded?: boolean;
  detail?: string;
}

export interface ReadinessCheck {
  name: string;
  check(): Promise<CheckResult>;
}

export interface ReadinessReport {
  ready: boolean;
  checks: (CheckResult & { name: string; ms: number })[];
}

// Kubernetes probes default to a 1 s timeout; 2 s per check (run in parallel) keeps a slow
// dependency from hanging the probe while still allowing a loaded Redis to answer.
export const DEFAULT_CHECK_TIMEOUT_MS = 2000;

export async function runReadiness(checks: readonly ReadinessCheck[], timeoutMs = DEFAULT_CHECK_TIMEOUT_MS): Promise<ReadinessReport> {
  const results = await Promise.all(
    checks.map(async (c) => {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<CheckResult>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
      });
      let result: CheckResult;
      try {
        result = await Promise.race([c.check(), timeout]);
      } catch (e) {
        result = { ok: false, detail: e instanceof Error ? e.message : String(e) };
      } finally {
        clearTimeout(timer);
      }
      return { name: c.name, ...result, ms: Date.now() - started };
    }),
  );
  return { ready: results.every((r) => r.ok), checks: results };
}

/** Redis answers PING. A connection that is not `ready` fails at once rather than queueing the PING. */
export function redisCheck(redis: Redis, name = 'redis'): ReadinessCheck {
  return {
    name,
    async check() {
      const where = () => formatRedisWhere(redisWhere(redis)).replace(/^redis: /, '');
      if (redis.status !== 'ready') return { ok: false, detail: `connection is ${redis.status}: ${where()}` };
      const answer = await redis.ping();
      return answer === 'PONG' ? { ok: true, detail: where() } : { ok: false, detail: `PING answered ${answer}: ${where()}` };
    },
  };
}

/**
 * A timestamp that must be recent (a mailbox heartbeat, a token check): not ok when missing
 * or older than maxAgeMs. `read` returns ms since epoch, or undefined when never recorded.
 */
export function freshnessCheck(name: string, read: () => Promise<number | undefined>, maxAgeMs: number, now = Date.now): ReadinessCheck {
  return {
    name,
    async check() {
      const at = await read();
      if (at === undefined) return { ok: false, detail: 'never recorded' };
      const age = now() - at;
      return age <= maxAgeMs
        ? { ok: true, detail: `${Math.round(age / 1000)} s ago` }
        : { ok: false, detail: `last seen ${Math.round(age / 1000)} s ago (limit ${Math.round(maxAgeMs / 1000)} s)` };
    },
  };
}
