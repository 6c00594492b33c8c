// MailroomFailedJobsGrowing counts jobs that failed for good from the job duration histogram's
// failed outcome (ops/prometheus/alerts.yml). That only holds if a failed attempt that will be
// retried is not counted: BullMQ emits a worker's 'failed' for every attempt, and sets
// finishedOn only on the last. A real worker on a real Redis: a job failing all three attempts
// counts once, a job failing once and then completing counts as completed only.
import { Queue, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/core/metrics.js';
import { observeWorker } from '../../src/station/worker.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('failed-count');
const redis = testRedis();
const workerRedis = testRedis({ forWorker: true });
const closers: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await dropPrefix(redis, prefix);
  redis.disconnect();
  workerRedis.disconnect();
});

async function count(m: ReturnType<typeof createMetrics>, outcome: string): Promise<number> {
  const fam = (await m.registry.getMetricsAsJSON()).find((f) => f.name === 'mailroom_job_duration_seconds')!;
  return fam.values.filter((v) => (v as { metricName?: string }).metricName === 'mailroom_job_duration_seconds_count' && v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);
}

describe('the failed outcome of mailroom_job_duration_seconds', () => {
  it('counts a job once when it has failed for good, never an attempt that is retried', async () => {
    const m = createMetrics();
    const queue = new Queue('failing', { connection: redis, prefix });
    closers.push(() => queue.close());
    const tries = new Map<string, number>();
    const worker = new Worker(
      'failing',
      async (job) => {
        const n = (tries.get(job.name) ?? 0) + 1;
        tries.set(job.name, n);
        if (job.name === 'always' || n === 1) throw new Error(`attempt ${n} fails`);
        return 'done';
      },
      { connection: workerRedis, prefix },
    );
    closers.push(() => worker.close());
    observeWorker(worker, 'failing', m);
    const attempts = { attempts: 3, backoff: { type: 'fixed', delay: 50 } };
    const always = await queue.add('always', {}, attempts);
    const once = await queue.add('once', {}, attempts);

    const deadline = Date.now() + 30_000;
    while ((await always.getState()) !== 'failed' || (await once.getState()) !== 'completed') {
      if (Date.now() > deadline) throw new Error(`not settled: always ${await always.getState()}, once ${await once.getState()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200)); // the last events reach the listeners
    expect(tries.get('always')).toBe(3);
    expect(tries.get('once')).toBe(2);
    expect(await count(m, 'failed')).toBe(1);
    expect(await count(m, 'completed')).toBe(1);
  });
});
