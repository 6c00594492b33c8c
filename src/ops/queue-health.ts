// What `mailroom status` says beyond counts: whether workers are consuming each queue, and
// why its delayed (or waiting) jobs wait. Jobs wait for one of a few reasons, told apart by
// what Mailroom itself leaves behind: a resolver job parks with its people's progress in its
// data (`pipeline`), a deliverer job parks for its thread (`deliver.threadWaitSince`), a retry
// has attempts made and a failed reason, Retry-After is a rate limit on the queue and a key of
// the shared gate, a pause is the queue's flag (with the token gate's reason when it paused it).
import type { Job, Queue } from 'bullmq';
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';
import type { OpsQueues } from './queue-status.js';

export type WaitKind = 'waiting-for-account' | 'waiting-for-thread' | 'backoff' | 'scheduled';

export interface DelayedJobView {
  attemptsMade: number;
  failedReason?: string;
  data: unknown;
}

export interface WaitReason {
  kind: WaitKind;
  detail: string;
}

/** Pure: why one delayed job waits. */
export function whyDelayed(queue: string, job: DelayedJobView): WaitReason {
  const data = (job.data ?? {}) as Record<string, unknown>;
  if (queue === 'mail-inbound') {
    const people = (data.pipeline as { people?: { email?: string; status?: string }[] } | undefined)?.people;
    const pending = Array.isArray(people) ? people.filter((p) => p?.status === 'pending').map((p) => String(p.email)) : [];
    if (pending.length) return { kind: 'waiting-for-account', detail: `waiting for the account of ${pending.join(', ')}` };
  }
  if (queue === 'jira-deliver' && typeof (data.deliver as { threadWaitSince?: unknown } | undefined)?.threadWaitSince === 'number') {
    return { kind: 'waiting-for-thread', detail: 'waiting for the mail it answers to be delivered first' };
  }
  if (job.attemptsMade > 0 && job.failedReason) {
    return { kind: 'backoff', detail: `retry backoff after attempt ${job.attemptsMade}: ${job.failedReason.split('\n')[0]!.slice(0, 200)}` };
  }
  return { kind: 'scheduled', detail: 'scheduled for later' };
}

export interface WaitGroup {
  kind: WaitKind;
  count: number;
  /** One example's detail (the most recent job's). */
  example: string;
}

export interface QueueActivity {
  queue: string;
  /** Worker connections on this queue (undefined when the server refuses CLIENT LIST). */
  workers?: number;
  paused: boolean;
  /** ms left of a rate limit set after Jira's 429/503 Retry-After (0 when none). */
  rateLimitedMs: number;
  /** Whether jobs here are being taken: a worker, not paused, not rate limited. */
  consuming: boolean;
  /** Delayed jobs by reason (at most `sample` looked at). */
  delayed: WaitGroup[];
  delayedSampled: number;
}

// Reading every delayed job of a big backlog would make `status` slow; a sample of the
// newest tells the reasons, and the counts table gives the total.
const DEFAULT_SAMPLE = 500;

export async function queueActivity(queue: Queue, sample = DEFAULT_SAMPLE): Promise<QueueActivity> {
  const [workers, paused, rateLimitedMs, jobs] = await Promise.all([
    queue.getWorkersCount().catch(() => undefined),
    queue.isPaused(),
    queue.getRateLimitTtl().then((n) => Math.max(0, n)),
    queue.getDelayed(0, sample - 1) as Promise<Job[]>,
  ]);
  const groups = new Map<WaitKind, WaitGroup>();
  for (const job of jobs.filter(Boolean)) {
    const r = whyDelayed(queue.name, job);
    const g = groups.get(r.kind);
    if (g) g.count++;
    else groups.set(r.kind, { kind: r.kind, count: 1, example: r.detail });
  }
  return {
    queue: queue.name,
    workers,
    paused,
    rateLimitedMs,
    consuming: (workers === undefined || workers > 0) && !paused && rateLimitedMs === 0,
    delayed: [...groups.values()],
    delayedSampled: jobs.length,
  };
}

export async function allQueueActivity(queues: OpsQueues, sample?: number): Promise<QueueActivity[]> {
  return Promise.all([...queues.byName.values()].map((q) => queueActivity(q, sample)));
}

/** ms left of the shared Retry-After window for the site (src/jira/retry-after.ts), 0 when open. */
export async function retryAfterLeft(redis: Redis, prefix: string, site: string): Promise<number> {
  return Math.max(0, await redis.pttl(key(prefix, 'jira', 'retry-after', site)));
}
