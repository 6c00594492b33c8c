// mailroom_cache_hit_ratio is one process's hits / lookups since it started. A process that
// never looks anything up (the poller, the web role, the notifier…) has no ratio: a 0 there
// read as "every lookup missed" beside the resolver's real one.
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/core/metrics.js';

async function ratio(m: ReturnType<typeof createMetrics>): Promise<number> {
  const v = (await m.registry.getMetricsAsJSON()).find((f) => f.name === 'mailroom_cache_hit_ratio')!.values;
  expect(v).toHaveLength(1);
  return v[0]!.value;
}

describe('mailroom_cache_hit_ratio', () => {
  it('is NaN, not 0, before the process looked anything up', async () => {
    const m = createMetrics();
    expect(await ratio(m)).toBeNaN();
    expect(await m.registry.metrics()).toMatch(/^mailroom_cache_hit_ratio nan$/im) // prom-client writes "Nan"; Prometheus reads either;
  });

  it('is hits over lookups once there are some', async () => {
    const m = createMetrics();
    m.cacheLookups.inc({ result: 'miss' });
    expect(await ratio(m)).toBe(0);
    m.cacheLookups.inc({ result: 'hit' }, 3);
    expect(await ratio(m)).toBe(0.75);
  });
});
