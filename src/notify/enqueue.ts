// Putting a notification on the `notify` queue: one place for the webhook and the CLI, so
// both queue the same shape under the same job-id rule.
import type { Queue } from 'bullmq';
import type { z } from 'zod';
import type { RetryConfig } from '../config/schema.js';
import { PermanentError } from '../core/errors.js';
import { notify } from '../queues/catalog.js';
import { addJob } from '../queues/queue.js';

export type NotifyJob = z.infer<typeof notify.payload>;

export interface EnqueueResult {
  jobId: string;
  /** False when a job with this event id was already queued (a replayed webhook). */
  created: boolean;
}

export async function enqueueNotification(queue: Queue, data: NotifyJob, retry?: Partial<Record<string, RetryConfig>>): Promise<EnqueueResult> {
  if (data.groups.length === 0 && data.users.length === 0) throw new PermanentError(`no recipients for ${data.event} on ${data.issueKey}`);
  const jobId = notify.jobId(data);
  // The job id makes a second add a no-op; asking first only tells the caller which it was.
  const existing = await queue.getJob(jobId);
  if (existing) return { jobId, created: false };
  const job = await addJob(queue, notify, data, retry);
  return { jobId: job.id ?? jobId, created: true };
}
