// A counter series that first appears at 1 is never counted by Prometheus's increase()/rate():
// they measure from a series' first sample, and a labelled prom-client counter has no series
// until its first inc(). Every process's first account created, first customer mail failed or
// bounced, first reply to a resolved issue was invisible on the dashboard and to any alert on
// increase(). The counters whose label values are known start at 0 in every process.
import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import type { Worker } from 'bullmq';
import { createMetrics } from '../../src/core/metrics.js';
import { observeWorker } from '../../src/station/worker.js';

async function series(m: ReturnType<typeof createMetrics>, name: string): Promise<string[]> {
  const fam = (await m.registry.getMetricsAsJSON()).find((f) => f.name === name)!;
  return fam.values.filter((v) => v.value === 0).map((v) => JSON.stringify(v.labels));
}

describe('counters with known label values exist at 0 from the start', () => {
  it('accounts created, by mode', async () => {
    expect(await series(createMetrics(), 'mailroom_accounts_created_total')).toEqual([JSON.stringify({ mode: 'user' }), JSON.stringify({ mode: 'customer' })]);
  });

  it('customer mails, by kind and outcome', async () => {
    const s = await series(createMetrics(), 'mailroom_customer_mails_total');
    for (const kind of ['acknowledge', 'comment']) {
      for (const outcome of ['sent', 'failed', 'deferred', 'skipped', 'bounced']) expect(s).toContain(JSON.stringify({ kind, outcome }));
    }
  });

  it('replies to resolved issues, by outcome; cache lookups, by result', async () => {
    const m = createMetrics();
    expect(await series(m, 'mailroom_resolved_replies_total')).toEqual(['comment', 'reopened', 'not-reopened', 'new-issue'].map((outcome) => JSON.stringify({ outcome })));
    expect(await series(m, 'mailroom_cache_lookups_total')).toEqual(['hit', 'miss'].map((result) => JSON.stringify({ result })));
  });

  it('job durations, for each queue a worker serves, completed and failed', async () => {
    const m = createMetrics();
    observeWorker(new EventEmitter() as unknown as Worker, 'jira-deliver', m);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^mailroom_job_duration_seconds_count\{queue="jira-deliver",outcome="completed"\} 0$/m);
    expect(text).toMatch(/^mailroom_job_duration_seconds_count\{queue="jira-deliver",outcome="failed"\} 0$/m);
    // A second worker on the same queue in this process does not reset what the first counted.
    m.jobDuration.observe({ queue: 'jira-deliver', outcome: 'completed' }, 0.2);
    observeWorker(new EventEmitter() as unknown as Worker, 'jira-deliver', m);
    expect(await m.registry.metrics()).toMatch(/^mailroom_job_duration_seconds_count\{queue="jira-deliver",outcome="completed"\} 1$/m);
  });
});
