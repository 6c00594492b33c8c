// Producing jobs: every add goes through a queue definition, so the payload is checked, the
// job id makes a second add a no-op, and the retry policy is the declared one.
import { Queue, type JobsOptions } from 'bullmq';
import type { z } from 'zod';
import { queueConnection, type Redis } from '../core/redis.js';
import type { RetryConfig } from '../config/schema.js';
import { jobName, jobOptions, parsePayload, type QueueDef } from './define.js';

export interface QueueDeps {
  connection: Redis;
  prefix: string;
  /** Per-queue retry overrides from config.queues. */
  retry?: Partial<Record<string, RetryConfig>>;
  /**
   * `connection` is a BullMQ worker's, which carries BullMQ's scripts already and no MULTI of
   * ours: the queue uses it as is instead of a twin (core/redis.ts queueConnection).
   */
  ofWorker?: boolean;
}

export function openQueue<S extends z.ZodType>(def: QueueDef<S>, deps: QueueDeps): Queue {
  const queue = new Queue(def.name, { connection: deps.ofWorker ? deps.connection : queueConnection(deps.connection), prefix: deps.prefix });
  // A Queue's 'error' events echo its connection's reconnect attempts (without a listener BullMQ
  // prints each to stderr). Whoever owns the connection reports the outage once.
  queue.on('error', () => undefined);
  return queue;
}

export function retryFor<S extends z.ZodType>(def: QueueDef<S>, overrides?: Partial<Record<string, RetryConfig>>): RetryConfig {
  return overrides?.[def.name] ?? def.retry;
}

/** Options for adding `data` to `def`'s queue: declared id, attempts and backoff. */
export function addOptions<S extends z.ZodType>(
  def: QueueDef<S>,
  data: z.infer<S>,
  overrides?: Partial<Record<string, RetryConfig>>,
  extra: JobsOptions = {},
): JobsOptions {
  return { ...jobOptions(retryFor(def, overrides)), jobId: def.jobId(data), ...extra };
}

/** Add a job (validated, with its declared id). Adding the same work twice is a no-op. */
export async function addJob<S extends z.ZodType>(
  queue: Queue,
  def: QueueDef<S>,
  data: z.infer<S>,
  overrides?: Partial<Record<string, RetryConfig>>,
  extra: JobsOptions = {},
) {
  const checked = parsePayload(def, data);
  return queue.add(jobName(def, checked), checked, addOptions(def, checked, overrides, extra));
}
