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
  return queueNamed(def.name, deps.connection, deps.prefix, deps.ofWorker);
}

/**
 * A Queue handle by name, the one way every role, command and the web opens one: on the twin of
 * `connection` (core/redis.ts queueConnection) unless it is a worker's own, with its 'error'
 * events (echoes of the connection's reconnect attempts, which BullMQ would print each to
 * stderr) left to whoever owns the connection, who reports the outage once.
 */
export function queueNamed(name: string, connection: Redis, prefix: string, ofWorker = false): Queue {
  const queue = new Queue(name, { connection: ofWorker ? connection : queueConnection(connection), prefix });
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
