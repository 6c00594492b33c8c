// The resolver and provisioner roles: the Jira client on the stored workaround token, the
// token gate (an AuthError pauses every queue that needs the token), the pipeline, and a
// worker per role. workers/resolver.ts and workers/provisioner.ts only call runRoles().
import type { Queue, Worker } from 'bullmq';
import { describeError } from '../core/errors.js';
import { identityProvision, jiraDeliver, mailboxActions, mailInbound } from '../queues/catalog.js';
import { openQueue } from '../queues/queue.js';
import { startWorker, type WorkerOptions } from '../queues/worker.js';
import type { Redis } from '../core/redis.js';
import type { RoleContext, RoleStarter } from '../queues/role.js';
import { openTokenQueues } from '../token/gate.js';
import { openTokenRuntime, type TokenRuntime } from '../token/runtime.js';
import { createPipeline, pipelineOptionsFrom, type JiraProvider, type Pipeline, type PipelineQueues } from './context.js';
import { createProvisioner, onProvisionFailed } from './provisioner.js';
import type { RateGateObserver } from '../jira/retry-after.js';
import { createResolver } from './resolver.js';

// Resolver jobs mostly wait on Redis and a cached lookup: many at once are cheap.
export const RESOLVER_CONCURRENCY = 25;
// Provision jobs write to Jira; a handful in parallel keeps Jira's rate limits at bay.
export const PROVISIONER_CONCURRENCY = 8;

export type PipelineWorkerDeps = WorkerOptions;

// Both roles' jobs keep their progress in job data and every step is idempotent, so a job
// whose worker died may be picked up again several times before it is judged broken.
export const PIPELINE_MAX_STALLED = 10;

export function openPipelineQueues(connection: Redis, prefix: string): PipelineQueues & { all: Queue[] } {
  const q = {
    mailInbound: openQueue(mailInbound, { connection, prefix }),
    identityProvision: openQueue(identityProvision, { connection, prefix }),
    jiraDeliver: openQueue(jiraDeliver, { connection, prefix }),
    mailboxActions: openQueue(mailboxActions, { connection, prefix }),
  };
  return { ...q, all: Object.values(q) };
}

export function startResolverWorker(p: Pipeline, queues: PipelineQueues, deps: PipelineWorkerDeps): Worker {
  return startWorker(mailInbound, createResolver(p, queues), {
    connection: deps.connection,
    prefix: p.prefix,
    logger: deps.logger,
    concurrency: deps.concurrency ?? RESOLVER_CONCURRENCY,
    retry: p.retry,
    onAuthError: deps.onAuthError,
    rateLimitQueues: deps.rateLimitQueues,
    lockDuration: deps.lockDuration,
    stalledInterval: deps.stalledInterval,
    maxStalledCount: deps.maxStalledCount ?? PIPELINE_MAX_STALLED,
  });
}

export function startProvisionerWorker(p: Pipeline, queues: PipelineQueues, deps: PipelineWorkerDeps): Worker {
  const w = startWorker(identityProvision, createProvisioner(p, queues.mailInbound), {
    connection: deps.connection,
    prefix: p.prefix,
    logger: deps.logger,
    concurrency: deps.concurrency ?? PROVISIONER_CONCURRENCY,
    retry: p.retry,
    onAuthError: deps.onAuthError,
    rateLimitQueues: deps.rateLimitQueues,
    lockDuration: deps.lockDuration,
    stalledInterval: deps.stalledInterval,
    maxStalledCount: deps.maxStalledCount ?? PIPELINE_MAX_STALLED,
  });
  w.on('failed', (job) => {
    onProvisionFailed(p, queues.mailInbound, job).catch((e) => deps.logger.warn({ err: describeError(e) }, 'could not release mails waiting on a failed provision job'));
  });
  return w;
}

/** The pipeline's view of the token runtime: a client on the current token and its account. */
export function tokenJira(token: Pick<TokenRuntime, 'source'>): JiraProvider {
  return async () => {
    const client = await token.source.client();
    const creds = await token.source.credentials();
    return { client, account: creds.email };
  };
}

/** Tuning for tests and crash drills: how soon a dead worker's jobs are taken over. */
export interface PipelineRoleOptions {
  concurrency?: number;
  /** Sees every Jira request let through and every Retry-After window opened (metrics, drills). */
  rateGateObserver?: RateGateObserver;
  lockDuration?: number;
  stalledInterval?: number;
}

function pipelineRole(role: 'resolver' | 'provisioner', opts: PipelineRoleOptions = {}): RoleStarter {
  return async (ctx: RoleContext) => {
    const { config } = ctx;
    const logger = ctx.logger.child({ role });
    const redis = ctx.redis(`${role}-keys`);
    const queues = openPipelineQueues(redis, config.prefix);
    const tokenQueues = openTokenQueues(redis, config.prefix);
    // Every token-using role checks the token at start and periodically (harmless in many
    // copies): an expiring token or a lost permission is reported by whichever runs.
    const token = await openTokenRuntime({ connection: redis, config, logger, watch: true, rateGateObserver: opts.rateGateObserver });
    const pipeline = createPipeline(pipelineOptionsFrom(config, redis, logger, tokenJira(token)));
    const deps: PipelineWorkerDeps = {
      connection: ctx.redis(role),
      logger,
      onAuthError: token.onAuthError,
      rateLimitQueues: tokenQueues,
      concurrency: opts.concurrency,
      lockDuration: opts.lockDuration,
      stalledInterval: opts.stalledInterval,
    };
    const worker = role === 'resolver' ? startResolverWorker(pipeline, queues, deps) : startProvisionerWorker(pipeline, queues, deps);
    return {
      async stop() {
        // close() stops taking jobs and waits for the ones in hand.
        await worker.close();
        await token.close();
        await Promise.all([...queues.all, ...tokenQueues].map((q) => q.close()));
      },
    };
  };
}

export const resolverRole = (opts?: PipelineRoleOptions): RoleStarter => pipelineRole('resolver', opts);
export const provisionerRole = (opts?: PipelineRoleOptions): RoleStarter => pipelineRole('provisioner', opts);
