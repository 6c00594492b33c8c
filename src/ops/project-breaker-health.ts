// The per-project breakers (src/deliver/project-breaker.ts) as operators see them: a /readyz
// entry (ready, marked degraded: other projects deliver), a gauge per held project, and a line
// for `mailroom status`. Kept apart from the other checks so it plugs in with one line each.
import { Gauge } from 'prom-client';
import { breakerLine, openBreakers } from '../token/project-breaker.js';
import type { Redis } from '../core/redis.js';
import { readTokenMeta } from '../token/store.js';
import type { ScrapeSource } from '../core/metrics.js';
import type { ReadinessCheck } from './readiness.js';

export const BREAKER_METRIC = 'mailroom_project_held';

/** Project permissions the last token check (periodic, CLI or /readyz's probe) found missing, as "PROJECT:PERMISSION". */
async function missingInLastCheck(redis: Redis, prefix: string): Promise<string[]> {
  const seen = (await readTokenMeta(redis, prefix))?.lastCheck?.permissions ?? {};
  return Object.entries(seen)
    .filter(([k, v]) => k.includes(':') && v === false)
    .map(([k]) => k);
}

/**
 * Ready either way (the token works, the rest delivers), degraded while a project is held or
 * the last token check found a project permission missing; the detail names project and permission.
 */
export function breakerCheck(redis: Redis, prefix: string): ReadinessCheck {
  return {
    name: 'project-permissions',
    async check() {
      const [open, missing] = await Promise.all([openBreakers(redis, prefix), missingInLastCheck(redis, prefix)]);
      const detail = `${breakerLine(open)}${missing.length ? `; last token check: missing ${missing.join(', ')}` : ''}`;
      return { ok: true, ...(open.length || missing.length ? { degraded: true } : {}), detail };
    },
  };
}

export function breakerSource(redis: Redis, prefix: string): ScrapeSource {
  return {
    name: 'project-breakers',
    metrics: [BREAKER_METRIC],
    async collect(m) {
      const gauge =
        (m.registry.getSingleMetric(BREAKER_METRIC) as Gauge | undefined) ??
        new Gauge({ name: BREAKER_METRIC, help: '1 while a project\'s deliveries are held because the workaround user lacks a permission there', labelNames: ['project', 'permission'], registers: [m.registry] });
      gauge.reset();
      for (const b of await openBreakers(redis, prefix)) gauge.set({ project: b.project, permission: b.permission }, 1);
    },
  };
}
