// Queue inspection for ops, shared by the CLI (`mailroom status`, `mailroom failed …`) and the
// web role (/metrics, /readyz). Every operation on one job is individually idempotent: a bulk
// retry or remove interrupted half way can simply be run again and continues where it stopped.
import type { Job, Queue } from 'bullmq';
import type { ScrapeSource } from '../core/metrics.js';
import type { Redis } from '../core/redis.js';
import { queueNamed } from '../queues/queue.js';
import { allQueues } from '../queues/catalog.js';
import { detailFailed, matchesFilter, summarizeFailed, type FailedFilter, type FailedJob, type FailedJobDetail } from './failed-summary.js';
import type { JobRef } from './ids.js';

export const QUEUE_NAMES: readonly string[] = allQueues.map((q) => q.name);

/** Job states shown by `status` and exported as metrics, in the order a person reads them. */
export const JOB_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'waiting-children', 'completed', 'failed'] as const;
export type JobStateName = (typeof JOB_STATES)[number];

export interface OpsDeps {
  connection: Redis;
  prefix: string;
  /** Defaults to every queue in the catalog. */
  queueNames?: readonly string[];
}

/** Queue handles for inspection (no workers), and the connection they share. */
export interface OpsQueues {
  redis: Redis;
  byName: Map<string, Queue>;
}

export function openQueues(deps: OpsDeps): OpsQueues {
  const byName = new Map<string, Queue>();
  for (const name of deps.queueNames ?? QUEUE_NAMES) byName.set(name, queueNamed(name, deps.connection, deps.prefix));
  return { redis: deps.connection, byName };
}

/** Only these queues (for --queue); an unknown name is an error naming the valid ones. */
export function onlyQueue(queues: OpsQueues, name: string | undefined): OpsQueues {
  if (name === undefined) return queues;
  const q = queues.byName.get(name);
  if (!q) throw new JobLookupError(`unknown queue "${name}": one of ${[...queues.byName.keys()].join(', ')}`);
  return { redis: queues.redis, byName: new Map([[name, q]]) };
}

export async function closeQueues(queues: OpsQueues): Promise<void> {
  // The connection is shared and owned by the caller; Queue#close leaves it open.
  await Promise.all([...queues.byName.values()].map((q) => q.close()));
}

export interface QueueStatus {
  queue: string;
  paused: boolean;
  counts: Record<JobStateName, number>;
}

export async function queueStatus(queue: Queue): Promise<QueueStatus> {
  const [raw, paused] = await Promise.all([queue.getJobCounts(...JOB_STATES), queue.isPaused()]);
  const counts = Object.fromEntries(JOB_STATES.map((s) => [s, raw[s] ?? 0])) as Record<JobStateName, number>;
  return { queue: queue.name, paused, counts };
}

export async function allQueueStatus(queues: OpsQueues): Promise<QueueStatus[]> {
  return Promise.all([...queues.byName.values()].map(queueStatus));
}

// Jobs are fetched in pages: enough to keep round trips few, small enough that a failed set
// of 100,000 never sits in memory as Job objects at once.
const PAGE = 200;

/**
 * Ids in the failed set, newest failure first, optionally only those that failed since `since`.
 * The failed set is a sorted set scored by finish time, so `since` is a range, not a scan.
 */
export async function failedIds(redis: Redis, queue: Queue, since?: number, olderThan?: number): Promise<string[]> {
  const max = olderThan !== undefined ? `(${olderThan}` : '+inf';
  const min = since !== undefined ? String(since) : '-inf';
  return redis.zrevrangebyscore(queue.toKey('failed'), max, min);
}

async function fetchJobs(queue: Queue, ids: string[]): Promise<Job[]> {
  const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
  return jobs.filter((j): j is Job => !!j);
}

/** Failed jobs matching the filter, newest first, across the given queues (merged by failure time). */
export async function listFailed(queues: OpsQueues, filter: FailedFilter = {}, limit = Infinity): Promise<FailedJob[]> {
  const found: FailedJob[] = [];
  for (const queue of queues.byName.values()) {
    const ids = await failedIds(queues.redis, queue, filter.since);
    for (let i = 0; i < ids.length; i += PAGE) {
      for (const job of await fetchJobs(queue, ids.slice(i, i + PAGE))) {
        const s = summarizeFailed(queue.name, job);
        if (matchesFilter(s, filter)) found.push(s);
      }
    }
  }
  found.sort((a, b) => (a.failedAt < b.failedAt ? 1 : a.failedAt > b.failedAt ? -1 : 0));
  return found.slice(0, limit);
}

export class JobLookupError extends Error {}

/** Find the job a reference names; a bare id found in more than one queue is an error naming them. */
export async function findJob(queues: OpsQueues, ref: JobRef): Promise<{ queue: Queue; job: Job } | undefined> {
  if (ref.queue !== undefined) {
    const queue = queues.byName.get(ref.queue);
    if (!queue) throw new JobLookupError(`unknown queue "${ref.queue}"`);
    const job = await queue.getJob(ref.id);
    return job ? { queue, job } : undefined;
  }
  const hits: { queue: Queue; job: Job }[] = [];
  for (const queue of queues.byName.values()) {
    const job = await queue.getJob(ref.id);
    if (job) hits.push({ queue, job });
  }
  if (hits.length > 1) {
    throw new JobLookupError(
      `job id "${ref.id}" exists in several queues (${hits.map((h) => h.queue.name).join(', ')}): write it as <queue>/<id> or pass --queue`,
    );
  }
  return hits[0];
}

export async function showFailed(queues: OpsQueues, ref: JobRef): Promise<(FailedJobDetail & { state: string }) | undefined> {
  const hit = await findJob(queues, ref);
  if (!hit) return undefined;
  const state = await hit.job.getState();
  return { ...detailFailed(hit.queue.name, hit.job), state };
}

export type RetryResult = 'retried' | 'not-failed' | 'missing';
export type RemoveResult = 'removed' | 'not-failed' | 'missing';

/**
 * Move one failed job back to wait with its attempts reset, so it gets its full retry policy
 * again. A job that is no longer failed (retried by someone else, or already done) is left
 * alone: running the same retry twice is harmless.
 */
export async function retryFailedJob(queue: Queue, id: string): Promise<RetryResult> {
  const job = await queue.getJob(id);
  if (!job) return 'missing';
  if ((await job.getState()) !== 'failed') return 'not-failed';
  try {
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return 'retried';
  } catch (e) {
    // Lost a race with another retry: the job is no longer failed, which is what was wanted.
    const state = await job.getState();
    if (state !== 'failed') return state === 'unknown' ? 'missing' : 'not-failed';
    throw e;
  }
}

/** Remove one job, only if it is (still) failed. */
export async function removeFailedJob(queue: Queue, id: string): Promise<RemoveResult> {
  const job = await queue.getJob(id);
  if (!job) return 'missing';
  if ((await job.getState()) !== 'failed') return 'not-failed';
  await job.remove();
  return 'removed';
}

/** Remove failed jobs that failed before `before` (ms since epoch). Returns how many went. */
export async function pruneFailed(queues: OpsQueues, before: number): Promise<{ queue: string; removed: number }[]> {
  const result: { queue: string; removed: number }[] = [];
  for (const queue of queues.byName.values()) {
    let removed = 0;
    for (const id of await failedIds(queues.redis, queue, undefined, before)) {
      if ((await removeFailedJob(queue, id)) === 'removed') removed++;
    }
    result.push({ queue: queue.name, removed });
  }
  return result;
}

/** Queue counts by state, read at scrape time. */
export function queueCountsSource(queues: OpsQueues): ScrapeSource {
  return {
    name: 'queues',
    metrics: ['mailroom_queue_jobs', 'mailroom_queue_paused'],
    async collect(m) {
      for (const s of await allQueueStatus(queues)) {
        for (const state of JOB_STATES) m.queueJobs.set({ queue: s.queue, state }, s.counts[state]);
        m.queuePaused.set({ queue: s.queue }, s.paused ? 1 : 0);
      }
    },
  };
}
