// A queue is declared once: its name, payload schema, job-id rule and retry policy sit
// together; producers and consumers import the declaration, never a string.
import type { z } from 'zod';
import type { JobsOptions } from 'bullmq';
import { ms } from '../config/duration.js';
import type { RetryConfig } from '../config/schema.js';
import { PermanentError } from '../core/errors.js';
import { clip, MAX_JOB_NAME } from './label.js';

export interface QueueDef<S extends z.ZodType> {
  name: string;
  payload: S;
  /** Deterministic job id: adding the same work twice is a no-op. */
  jobId: (data: z.infer<S>) => string;
  retry: RetryConfig;
  /** Whether its workers need the workaround token (paused together when the token fails). */
  needsToken: boolean;
  /** The job's name on the board: which mail or person it is about (see label.ts). */
  label?: (data: z.infer<S>) => string;
  /** How its workers run, beside the retry policy (a role or test may still override). */
  worker?: WorkerSettings;
  /**
   * Where a job that failed for good (permanently, or its last attempt) is written in the
   * audit trail, so `mailroom audit` never ends on "queued" for a mail that will not arrive.
   */
  audit?: FailureAudit<z.infer<S>>;
}

export interface FailureAudit<D> {
  /** The audit step, e.g. deliver-failed. */
  step: string;
  /** The trail the entry belongs to: the mail (as its other entries name it) and the mailbox. */
  subject: (data: D, jobId: string) => { mail?: string; email?: string; mailboxId?: string };
}

export interface WorkerSettings {
  /** Jobs one worker runs at once. */
  concurrency?: number;
  /**
   * Times a job may be found stalled (its worker died) before it fails. Queues whose every
   * step is idempotent and whose progress is kept in job data allow many.
   */
  maxStalledCount?: number;
}

/** The name a job is added under: its label, or the queue's name when it has none. */
export function jobName<S extends z.ZodType>(def: QueueDef<S>, data: z.infer<S>): string {
  try {
    return clip(def.label?.(data), MAX_JOB_NAME) || def.name;
  } catch {
    return def.name; // a label never stops a job from being added
  }
}

export function defineQueue<S extends z.ZodType>(def: QueueDef<S>): QueueDef<S> {
  return def;
}

/** Parse a job's payload on entry; a bad payload is a permanent failure with a readable reason. */
export function parsePayload<S extends z.ZodType>(def: QueueDef<S>, data: unknown): z.infer<S> {
  const r = def.payload.safeParse(data);
  if (!r.success) {
    const detail = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PermanentError(`bad ${def.name} payload (${detail})`);
  }
  return r.data;
}

/** BullMQ job options from a retry policy: attempts plus our capped, jittered backoff. */
export function jobOptions(retry: RetryConfig): JobsOptions {
  return {
    attempts: retry.attempts,
    backoff: { type: 'capped-jitter', delay: ms(retry.delay) },
    // Completed jobs are trimmed; failed ones are kept until ops remove them (or a retention
    // setting prunes by age): they are the mail that needs a person.
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: false,
  };
}

/**
 * Exponential backoff with full jitter, capped: attempt n waits a random time in
 * [d/2, d] with d = min(maxDelay, delay * 2^(n-1)). Jitter spreads retries of many jobs that
 * failed together (a Jira incident) so they do not return as one thundering herd.
 */
export function backoffDelay(attemptsMade: number, retry: RetryConfig, random = Math.random): number {
  const base = ms(retry.delay);
  const cap = ms(retry.maxDelay);
  const d = Math.min(cap, base * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(d / 2 + random() * (d / 2));
}
