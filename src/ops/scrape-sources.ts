// The gauges the web role fills from Redis just before a scrape (ScrapeSource), run together.
// A source that fails (an error, or no answer within the timeout) is left out of that scrape
// with every family it fills, never served with its last values (a frozen token_valid 1 or
// heartbeat age would read as current), and mailroom_metrics_source_up{source} is 0 for it.
// The warning is said when the set of failing sources changes, not at every scrape.
import { Gauge } from 'prom-client';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Metrics, ScrapeSource } from '../core/metrics.js';
import { withTimeout } from '../core/timeout.js';

export const SOURCE_UP_METRIC = 'mailroom_metrics_source_up';

function sourceUpGauge(m: Metrics): Gauge<'source'> {
  return (
    (m.registry.getSingleMetric(SOURCE_UP_METRIC) as Gauge<'source'> | undefined) ??
    new Gauge({ name: SOURCE_UP_METRIC, help: '1 when the web role could read this source of install-wide gauges at the last scrape; 0: its series are left out', labelNames: ['source'] as const, registers: [m.registry] })
  );
}

/** Runs every source before a scrape; resolves to the families to leave out of it. */
export function scrapeRunner(sources: readonly ScrapeSource[], log: Logger, timeoutMs: number): (m: Metrics) => Promise<Set<string>> {
  let failingBefore: string[] = [];
  return async (m) => {
    const results = await Promise.allSettled(sources.map((s) => withTimeout(s.collect(m), timeoutMs, `${s.name}: no answer within ${timeoutMs} ms`)));
    const up = sourceUpGauge(m);
    // An array, not an object keyed by source: a key named `token` would be redacted (src/core/log.ts).
    const errors: { source: string; error: string }[] = [];
    const omit = new Set<string>();
    results.forEach((r, i) => {
      const s = sources[i]!;
      up.set({ source: s.name }, r.status === 'fulfilled' ? 1 : 0);
      if (r.status === 'fulfilled') return;
      errors.push({ source: s.name, error: describeError(r.reason) });
      for (const name of s.metrics) omit.add(name);
    });
    const failing = errors.map((e) => e.source);
    if (failing.join() !== failingBefore.join()) {
      if (failing.length) log.warn({ sources: errors }, 'metrics sources failed: their series are left out of /metrics until they answer');
      else log.info({ sources: failingBefore }, 'metrics sources answer again');
      failingBefore = failing;
    }
    return omit;
  };
}
