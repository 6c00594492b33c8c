// The one place where Mailroom's error kinds meet BullMQ:
//   permanent  -> UnrecoverableError: straight to the failed set, with a readable reason;
//   rate limit -> a site-wide limit: every queue sharing the token waits out Retry-After, the
//                 job goes back to wait; a limit on one issue's writes or one endpoint
//                 (src/jira/retry-after.ts): this job alone waits, delayed; no attempt spent;
//   auth       -> the token's queues are paused (onAuthError); the job goes back to wait
//                 without spending an attempt, and runs again once a valid token is stored;
//   retryable  -> attempts with capped, jittered exponential backoff.
import { DelayedError, UnrecoverableError, WaitingChildrenError, Worker, type Job, type JobsOptions, type Queue } from 'bullmq';
import type { z } from 'zod';
import type { Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import type { RetryConfig } from '../config/schema.js';
import { AuthError, MailroomError, PermanentError, RateLimitedError, describeError, type RateLimitScope } from '../core/errors.js';
import { backoffDelay, parsePayload, type QueueDef } from '../queues/define.js';
import { addJob, openQueue, retryFor } from '../queues/queue.js';
import { metrics, type Metrics } from '../core/metrics.js';
import { isConnectionError } from '../core/redis-outage.js';
import { tell } from '../queues/story.js';
import { createAuditTrail } from '../queues/audit.js';
import { repeatGate } from './repeat-log.js';

/** A running station's worker, as roles and tests hold it (close, pause, events). */
export type StationWorker = Worker;

export interface ProcessorContext {
  job: Job;
  log: Logger;
  /**
   * Put this job aside until `until` (ms since the epoch), then run it again from the start:
   * waiting for something, not a failure (no attempt spent, no backoff). Never returns; `why`
   * is logged. The only way a step leaves its job waiting: the lock and BullMQ's signal stay here.
   */
  park(until: number, why: string): Promise<never>;
  /**
   * Add a job to another of the install's queues, by its definition: payload checked, the
   * declared job id (a second add is a no-op) and the configured retry policy.
   */
  add<S extends z.ZodType>(def: QueueDef<S>, data: z.infer<S>, extra?: JobsOptions): Promise<Job>;
  /**
   * Progress kept in the job's own data under `field`, so a retried or taken-over job resumes
   * where it stopped. `valid` rejects a shape from another version (read() is then undefined).
   */
  progress<P>(field: string, valid: (s: unknown) => s is P): KeptProgress<P>;
}

export interface KeptProgress<P> {
  read(): P | undefined;
  save(state: P): Promise<void>;
}

/** Progress in a job's data (see ProcessorContext.progress). */
export function jobProgress<P>(job: Job, field: string, valid: (s: unknown) => s is P): KeptProgress<P> {
  return {
    read() {
      const s = (job.data as Record<string, unknown> | undefined)?.[field];
      return valid(s) ? s : undefined;
    },
    async save(state) {
      await job.updateData({ ...(job.data as Record<string, unknown>), [field]: state });
    },
  };
}

/** Adds to the install's queues by definition, each queue opened on first use on `connection`. */
export function queueAdder(deps: Pick<WorkerDeps, 'connection' | 'prefix' | 'retry'>): { add: ProcessorContext['add']; close(): Promise<void> } {
  const produced = new Map<string, Queue>();
  return {
    add(target, data, extra) {
      let q = produced.get(target.name);
      if (!q) produced.set(target.name, (q = openQueue(target, { connection: deps.connection, prefix: deps.prefix, ofWorker: true })));
      return addJob(q, target, data, deps.retry, extra);
    },
    async close() {
      await Promise.all([...produced.values()].map((q) => q.close()));
      produced.clear();
    },
  };
}

/** The context a processor gets for `job` (startWorker builds it; tests may too). */
export function processorContext(job: Job, log: Logger, add: ProcessorContext['add'], token?: string): ProcessorContext {
  return {
    job,
    log,
    add,
    progress: (field, valid) => jobProgress(job, field, valid),
    park(until, why) {
      log.debug({ until: new Date(until).toISOString(), why }, 'job parked');
      return parkJob(job, token, until, why);
    },
  };
}

/** Move the job to the delayed set under its lock and hand it back to BullMQ as parked. */
async function parkJob(job: Job, token: string | undefined, until: number, why: string): Promise<never> {
  // Without a lock token (a job run outside a worker, in a test) there is nothing to move.
  if (!token) throw new Error(`cannot park job ${job.id} outside a worker (${why})`);
  await job.moveToDelayed(until, token);
  throw new DelayedError();
}

export type Processor<T> = (data: T, ctx: ProcessorContext) => Promise<unknown>;

export interface WorkerDeps {
  connection: Redis;
  prefix: string;
  logger: Logger;
  concurrency?: number;
  retry?: Partial<Record<string, RetryConfig>>;
  /** Called on the first AuthError a job meets: pause the token's queues, record why. */
  onAuthError?: (err: AuthError, job: Job) => Promise<void>;
  /** Queues that share the workaround token: a 429 rate-limits all of them, not just this one. */
  rateLimitQueues?: Queue[];
  /** Job lock; a worker that dies loses its jobs to another after this long (stalled check). */
  lockDuration?: number;
  /** How often dead workers' jobs are looked for (BullMQ default 30 s). */
  stalledInterval?: number;
  /** Times a job may be found stalled (its worker died) before it fails (BullMQ default 1). */
  maxStalledCount?: number;
  autorun?: boolean;
}

/** What a role decides about its worker; the queue's prefix and retry policy come from config. */
export type WorkerOptions = Omit<WorkerDeps, 'prefix' | 'retry' | 'autorun'>;

export type Outcome =
  | { action: 'fail-permanently'; message: string }
  | { action: 'rate-limit'; waitMs: number; message: string; scope: RateLimitScope }
  | { action: 'pause-for-auth'; message: string }
  | { action: 'retry'; message: string };

/** Pure: what to do with an error a processor threw. */
export function outcomeOf(err: unknown): Outcome {
  const message = describeError(err);
  if (err instanceof UnrecoverableError) return { action: 'fail-permanently', message };
  if (err instanceof MailroomError) {
    if (err instanceof AuthError) return { action: 'pause-for-auth', message };
    if (err instanceof RateLimitedError) return { action: 'rate-limit', waitMs: Math.max(err.retryAfterMs, 1), message, scope: err.scope };
    if (err instanceof PermanentError) return { action: 'fail-permanently', message };
  }
  return { action: 'retry', message };
}

// BullMQ only honours a manual rate limit (queue.rateLimit) on workers that have a limiter;
// this one is far above anything Mailroom reaches, so it never throttles on its own.
const LIMITER = { max: 10_000, duration: 1000 };

/**
 * The audit entry for a job that failed for good (permanently or on its last attempt), when
 * its queue names an audit subject: the trail of a mail then ends with why, not "queued".
 * Writing it never changes how the job fails.
 */
function finalFailureAudit<S extends z.ZodType>(def: QueueDef<S>, deps: WorkerDeps, log: Logger): FinalFailure {
  const spec = def.audit;
  if (!spec) return async () => undefined;
  const audit = createAuditTrail({ redis: deps.connection, prefix: deps.prefix });
  return async (job, detail) => {
    const data = def.payload.safeParse(job.data);
    if (!data.success) return; // an unreadable payload names no mail; its job's story says why
    try {
      await audit.record({ ...spec.subject(data.data, String(job.id)), step: spec.step, outcome: 'failed', detail });
    } catch (e) {
      log.warn({ jobId: job.id, err: describeError(e) }, 'could not write the audit entry for a failed job');
    }
  };
}

/** "the workaround token was refused", or "there is no usable workaround token" when none is stored. */
function headline(err: unknown): string {
  return err instanceof AuthError ? err.headline : 'the workaround token was refused';
}

type FinalFailure = (job: Job, detail: string) => Promise<void>;
type RepeatGate = ReturnType<typeof repeatGate>;

/**
 * Hand a failed job back to BullMQ the way its error kind asks (see the top of this file):
 * always throws, with the job's story told first.
 */
async function failJob(err: unknown, job: Job, jobLog: Logger, worker: Worker, deps: WorkerDeps, final: FinalFailure, retryLog: RepeatGate, token?: string): Promise<never> {
  const outcome = outcomeOf(err);
  switch (outcome.action) {
    case 'fail-permanently':
      jobLog.warn({ reason: outcome.message }, 'job failed permanently');
      await tell(job, `attempt ${job.attemptsMade + 1} failed for good (not retried): ${outcome.message}`);
      await final(job, `failed for good (not retried): ${outcome.message}`);
      throw err instanceof UnrecoverableError ? err : new UnrecoverableError(outcome.message);
    case 'rate-limit': {
      if (outcome.scope !== 'site' && token) await holdJobAlone(job, jobLog, outcome, token);
      jobLog.warn({ waitMs: outcome.waitMs }, 'rate limited by Jira: every worker on the token waits');
      await tell(job, `rate limited by Jira: back to waiting for ${Math.ceil(outcome.waitMs / 1000)} s with every job on the token (no attempt spent)`);
      const queues = deps.rateLimitQueues?.length ? deps.rateLimitQueues : [];
      await Promise.all([worker.rateLimit(outcome.waitMs), ...queues.map((q) => q.rateLimit(outcome.waitMs))]);
      throw Worker.RateLimitError();
    }
    case 'pause-for-auth':
      if (!deps.onAuthError) {
        // Nothing here can pause the queues: handing the job straight back would spin on
        // the refused token. Spend an attempt, with backoff, like any retryable failure.
        jobLog.error({ reason: outcome.message }, `${headline(err)} (no token gate in this worker): will retry`);
        throw err;
      }
      jobLog.error({ reason: outcome.message }, `${headline(err)}: pausing the queues that need it`);
      await tell(job, `${headline(err)} (${outcome.message}): queues paused until a valid token is stored (no attempt spent)`);
      await deps.onAuthError(err as AuthError, job);
      // Back to wait without spending an attempt; the paused queue holds it until a valid
      // token is stored. A very short limit is enough to hand the job back.
      await worker.rateLimit(1);
      throw Worker.RateLimitError();
    case 'retry': {
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (last) jobLog.warn({ reason: outcome.message }, 'job failed, its last attempt');
      else {
        // Many jobs failing alike (an outage) are one warning a minute, not one per attempt.
        const said = retryLog(outcome.message);
        jobLog[said.loud ? 'warn' : 'debug']({ reason: outcome.message, ...(said.alike ? { alike: said.alike } : {}) }, 'job failed, will retry');
      }
      await tell(
        job,
        !last
          ? `attempt ${job.attemptsMade + 1} of ${job.opts.attempts} failed: ${outcome.message}; retrying after a backoff`
          : `attempt ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1} failed, the last one: ${outcome.message}`,
      );
      if (last) await final(job, `gave up after ${job.attemptsMade + 1} attempts: ${outcome.message}`);
      throw err;
    }
  }
}

/**
 * A limit on one issue's writes or one endpoint holds only the calls under it: this job waits
 * out the window, delayed, without spending an attempt; the queue goes on with other jobs.
 */
async function holdJobAlone(job: Job, jobLog: Logger, o: { waitMs: number; scope: RateLimitScope }, token: string): Promise<never> {
  const what = o.scope === 'issue' ? "an issue's writes" : 'one Jira endpoint';
  jobLog.warn({ waitMs: o.waitMs, scope: o.scope }, `rate limited by Jira on ${what}: this job waits alone`);
  await tell(job, `rate limited by Jira on ${what}: this job waits ${Math.ceil(o.waitMs / 1000)} s (no attempt spent); other jobs go on`);
  return parkJob(job, token, Date.now() + o.waitMs, `rate limited by Jira on ${what}`);
}

export function startWorker<S extends z.ZodType>(
  def: QueueDef<S>,
  processor: Processor<z.infer<S>>,
  deps: WorkerDeps,
): Worker {
  const retry = retryFor(def, deps.retry);
  const log = deps.logger.child({ queue: def.name });
  const adder = queueAdder(deps);
  const final = finalFailureAudit(def, deps, log);
  const retryLog = repeatGate();
  const worker: Worker = new Worker(
    def.name,
    async (job, token) => {
      const jobLog = log.child({ jobId: job.id, attempt: job.attemptsMade + 1 });
      try {
        const data = parsePayload(def, job.data);
        return await processor(data, processorContext(job, jobLog, adder.add, token));
      } catch (err) {
        // Not failures: a processor that parked its job (delayed, waiting for children) hands it back as is.
        if (err instanceof DelayedError || err instanceof WaitingChildrenError) throw err;
        return await failJob(err, job, jobLog, worker, deps, final, retryLog, token);
      }
    },
    {
      connection: deps.connection,
      prefix: deps.prefix,
      concurrency: deps.concurrency ?? def.worker?.concurrency ?? 10,
      autorun: deps.autorun ?? true,
      limiter: LIMITER,
      // 30 s: long enough for a slow Jira call plus an attachment upload; the lock is renewed
      // at half that while the job runs, so only a dead worker loses its jobs.
      lockDuration: deps.lockDuration ?? 30_000,
      ...(deps.stalledInterval !== undefined ? { stalledInterval: deps.stalledInterval } : {}),
      ...((deps.maxStalledCount ?? def.worker?.maxStalledCount) !== undefined ? { maxStalledCount: deps.maxStalledCount ?? def.worker?.maxStalledCount } : {}),
      settings: {
        backoffStrategy: (attemptsMade: number) => backoffDelay(attemptsMade, retry),
      },
    },
  );
  // Reconnect attempts while Redis is away arrive here too, once per attempt per connection: the
  // role's connections log the outage once (src/core/redis-outage.ts), so those are not repeated.
  worker.on('error', (e) => {
    if (!isConnectionError(e)) log.error({ err: describeError(e) }, 'worker error');
  });
  // The queues opened for ctx.add close with the worker, before its role goes on to close the
  // connections they share.
  const closeWorker = worker.close.bind(worker);
  worker.close = async (force?: boolean) => {
    await closeWorker(force);
    await adder.close().catch(() => undefined);
  };
  // Every role's worker comes through here: job durations for /metrics, whichever role runs it.
  observeWorker(worker, def.name);
  return worker;
}

const zeroedQueues = new WeakMap<Metrics, Set<string>>();

/** Record the processing time of every job a worker finishes (for /metrics, whichever role runs it). */
export function observeWorker(worker: Worker, queue: string, m: Metrics = metrics): void {
  // At 0 from the start: rate() counts from a series' first sample (see KNOWN_LABELS in core/metrics.ts).
  // Once per queue and registry: zero() overwrites, and a second worker must not reset the first's counts.
  const zeroed = zeroedQueues.get(m) ?? new Set<string>();
  zeroedQueues.set(m, zeroed);
  if (!zeroed.has(queue)) for (const outcome of ['completed', 'failed'] as const) m.jobDuration.zero({ queue, outcome });
  zeroed.add(queue);
  const observe = (outcome: 'completed' | 'failed', job: { processedOn?: number; finishedOn?: number } | undefined) => {
    if (job?.processedOn && job.finishedOn) m.jobDuration.observe({ queue, outcome }, (job.finishedOn - job.processedOn) / 1000);
  };
  worker.on('completed', (job) => observe('completed', job));
  worker.on('failed', (job) => observe('failed', job));
}
