// A role whose workers need the workaround token (resolver, provisioner, deliverer, notifier):
// the token runtime (checked at start, watched periodically, the token gate as the workers'
// onAuthError), every worker on the queues that share the token as its rateLimitQueues, and
// one stop order: the workers first (close() waits for the jobs in hand), then what the role
// built, then the token runtime, then the queues.
import type { Queue, Worker } from 'bullmq';
import { withRole, type Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import type { RetryAfterObserver } from '../jira/retry-after.js';
import type { RoleContext, RoleStarter } from '../queues/role.js';
import type { WorkerDeps } from '../queues/worker.js';
import { openTokenQueues } from './gate.js';
import { openTokenRuntime, type TokenRuntime } from './runtime.js';

/** Tuning a role accepts (tests and crash drills shorten the lock and the stall check). */
export interface TokenRoleOptions {
  /** Overrides the queue catalog's concurrency. */
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
  /** Sees every Jira request let through and every Retry-After window opened (metrics, drills). */
  retryAfterObserver?: RetryAfterObserver;
}

/** What a role has before the token runtime opens. */
export interface RoleBase {
  ctx: RoleContext;
  logger: Logger;
  /** The role's connection for keys and queues (the workers get their own). */
  redis: Redis;
}

export interface TokenRoleEnv extends RoleBase {
  token: TokenRuntime;
}

/** Starts one worker on the deps the role shares: its connection, the token hooks, the tuning. */
export type WorkerStarter = (deps: WorkerDeps) => Worker;

export interface TokenRoleParts {
  workers: WorkerStarter[];
  /** After the workers have stopped, before the token runtime closes (parser threads, SMTP pool). */
  release?(): Promise<void>;
  /** Closed last, with the token queues. */
  queues?: Pick<Queue, 'close'>[];
}

export interface TokenRoleSpec<P> {
  role: string;
  options?: TokenRoleOptions;
  /** Runs before the token runtime opens, i.e. before anything talks to Jira. */
  prepare?(base: RoleBase): Promise<P>;
  build(env: TokenRoleEnv, prepared: P): TokenRoleParts;
}

export function tokenWorkerRole<P = undefined>(spec: TokenRoleSpec<P>): RoleStarter {
  return async (ctx) => {
    const { config } = ctx;
    const logger = withRole(ctx.logger, spec.role);
    const redis = ctx.redis(`${spec.role}-keys`);
    const base: RoleBase = { ctx, logger, redis };
    const prepared = spec.prepare ? await spec.prepare(base) : (undefined as P);
    const tokenQueues = openTokenQueues(redis, config.prefix);
    // Every token-using role checks the token at start and periodically (harmless in many
    // copies): an expiring token or a lost permission is reported by whichever runs.
    const token = await openTokenRuntime({ connection: redis, config, logger, watch: true, retryAfterObserver: spec.options?.retryAfterObserver });
    const parts = spec.build({ ...base, token }, prepared);
    const workers = parts.workers.map((start, i) =>
      start({
        connection: ctx.redis(i === 0 ? spec.role : `${spec.role}-${i + 1}`),
        prefix: config.prefix,
        retry: config.queues,
        logger,
        onAuthError: token.onAuthError,
        rateLimitQueues: tokenQueues,
        ...workerTuning(spec.options),
      }),
    );
    return {
      async stop() {
        // close() stops taking jobs and waits for the ones in hand.
        for (const w of workers) await w.close();
        await parts.release?.();
        await token.close();
        await Promise.all([...tokenQueues, ...(parts.queues ?? [])].map((q) => q.close()));
      },
    };
  };
}

function workerTuning(o: TokenRoleOptions = {}): Pick<WorkerDeps, 'concurrency' | 'lockDuration' | 'stalledInterval'> {
  return { concurrency: o.concurrency, lockDuration: o.lockDuration, stalledInterval: o.stalledInterval };
}
