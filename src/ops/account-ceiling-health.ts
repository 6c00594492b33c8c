// The install's new-account ceiling (src/identity/account-ceiling.ts) as operators see it: a
// /readyz entry, two gauges, and a line for `mailroom status`. Kept apart from the other
// checks so it plugs in with one line each.
import { Gauge } from 'prom-client';
import { ceilingStatus, type CeilingStatus } from '../identity/account-ceiling.js';
import type { Redis } from '../core/redis.js';
import type { ScrapeSource } from '../core/metrics.js';
import type { ReadinessCheck } from './readiness.js';

/** In words: what status and /readyz print. */
export function ceilingLine(s: CeilingStatus): string {
  if (s.waiting) {
    return `new accounts: ceiling reached (${s.waiting.count} this hour, maxNewAccountsPerHour ${s.waiting.limit}); mail that needs a new account waits until ${new Date(s.waiting.retryAt).toISOString()}`;
  }
  return `new accounts: ${s.thisHour} this hour`;
}

/**
 * Ready either way (Mailroom is working as configured), but the detail says when mail waits,
 * so a person looking at /readyz sees it; alert on the gauge.
 */
export function ceilingCheck(redis: Redis, prefix: string): ReadinessCheck {
  return {
    name: 'new-account-ceiling',
    async check() {
      return { ok: true, detail: ceilingLine(await ceilingStatus(redis, prefix)) };
    },
  };
}

export function ceilingSource(redis: Redis, prefix: string): ScrapeSource {
  return {
    name: 'new-account-ceiling',
    metrics: ['mailroom_new_accounts_this_hour', 'mailroom_new_account_ceiling_waiting'],
    async collect(m) {
      const gauge = (name: string, help: string) =>
        (m.registry.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, registers: [m.registry] });
      const s = await ceilingStatus(redis, prefix);
      gauge('mailroom_new_accounts_this_hour', 'New Jira accounts counted against maxNewAccountsPerHour in the last hour (a sliding window)').set(s.thisHour);
      gauge('mailroom_new_account_ceiling_waiting', '1 while mail waits at the install\'s new-account ceiling, else 0').set(s.waiting ? 1 : 0);
    },
  };
}
