// Every process's series in the web role's one scrape (src/ops/metrics-share.ts), on a real
// Redis: a process publishes its registry as JSON, the web role renders them all. A value JSON
// cannot hold (NaN, ±Inf) must come out as Prometheus writes it: Prometheus refuses a whole
// scrape for one unparsable sample, so one process's NaN would blank every Mailroom series.
// Node's own event-loop-lag gauges are NaN when no delay was sampled yet (a process's first
// publish, right after it starts).
import { afterAll, describe, expect, it } from 'vitest';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { procsKey, renderInstallMetrics, startMetricsPublisher } from '../../src/ops/metrics-share.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('metrics-share');
const redis = testRedis();
const publishers: { stop(): Promise<void> }[] = [];
const connections: ReturnType<typeof testRedis>[] = [];

/** A connection of its own for each process the test plays. */
async function processRedis(): Promise<ReturnType<typeof testRedis>> {
  const r = testRedis();
  connections.push(r);
  await r.ping();
  return r;
}

afterAll(async () => {
  for (const p of publishers) await p.stop();
  for (const r of connections) r.disconnect();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

/** Prometheus's text format: a sample's value is a float, NaN, +Inf or -Inf (nothing else parses). */
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (NaN|[+-]Inf|-?\d+(\.\d+)?([eE][+-]?\d+)?)$/;

function unparsable(text: string): string[] {
  return text.split('\n').filter((l) => l && !l.startsWith('#') && !SAMPLE.test(l));
}

describe('the install scrape carries values JSON cannot', () => {
  it('renders another process\'s NaN and ±Inf as Prometheus does, never as "null"', async () => {
    const resolverReg = new Registry();
    const g = new Gauge({ name: 'mailroom_test_ratio', help: 'a ratio of nothing', labelNames: ['kind'] as const, registers: [resolverReg] });
    g.set({ kind: 'nan' }, NaN);
    g.set({ kind: 'up' }, Infinity);
    g.set({ kind: 'down' }, -Infinity);
    g.set({ kind: 'plain' }, 0.5);
    const resolver = startMetricsPublisher({ redis: await processRedis(), prefix, role: 'resolver', instance: 'a:1', registry: resolverReg });
    publishers.push(resolver);
    await resolver.publish();
    const web = startMetricsPublisher({ redis: await processRedis(), prefix, role: 'web', instance: 'a:2', registry: new Registry() });
    publishers.push(web);

    const text = await renderInstallMetrics(web);
    expect(unparsable(text)).toEqual([]);
    expect(text).toContain('mailroom_test_ratio{kind="nan",role="resolver",instance="a:1"} NaN');
    expect(text).toContain('mailroom_test_ratio{kind="up",role="resolver",instance="a:1"} +Inf');
    expect(text).toContain('mailroom_test_ratio{kind="down",role="resolver",instance="a:1"} -Inf');
    expect(text).toContain('mailroom_test_ratio{kind="plain",role="resolver",instance="a:1"} 0.5');
  });

  it('a process\'s first snapshot, default metrics included, renders as a valid scrape', async () => {
    const reg = new Registry();
    collectDefaultMetrics({ register: reg, prefix: 'mailroom_process_' });
    const fresh = startMetricsPublisher({ redis: await processRedis(), prefix, role: 'deliverer', instance: 'b:1', registry: reg });
    publishers.push(fresh);
    await fresh.publish();
    const web = startMetricsPublisher({ redis: await processRedis(), prefix, role: 'web', instance: 'b:2', registry: new Registry() });
    publishers.push(web);
    const text = await renderInstallMetrics(web);
    expect(text).toMatch(/^mailroom_process_nodejs_eventloop_lag_mean_seconds\{role="deliverer",instance="b:1"\} /m);
    expect(unparsable(text)).toEqual([]);
  });

  it('a snapshot an older version wrote with null values loses those samples, not the scrape', async () => {
    const snap = { role: 'notifier', instance: 'c:1', at: Date.now(), metrics: [{ name: 'mailroom_test_old', help: 'h', type: 'gauge', values: [{ value: null, labels: {} }, { value: 2, labels: { k: 'v' } }] }] };
    await redis.hset(procsKey(prefix), 'notifier|c:1', JSON.stringify(snap));
    const web = startMetricsPublisher({ redis: await processRedis(), prefix, role: 'web', instance: 'c:2', registry: new Registry() });
    publishers.push(web);
    const text = await renderInstallMetrics(web);
    expect(unparsable(text)).toEqual([]);
    expect(text).toContain('mailroom_test_old{k="v",role="notifier",instance="c:1"} 2');
  });
});
