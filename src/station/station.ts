// What a worker is: a station takes jobs from one queue and runs one processor on them. Each
// stage says what its station is in the file that holds its processor (deliver/deliverer.ts,
// identity/resolver.ts, identity/provisioner.ts, notify/notifier.ts, respond/responder.ts,
// imap/actions.ts); a role (one process's share of the work, src/roles/, and the poller's
// imap/role.ts) runs one or more stations. Every production worker is a station: no file in
// src/ outside this folder starts one (test/unit/house-shape.test.ts holds that).
//
// A station that needs the workaround token gets the token runtime (checked at start, watched
// periodically, the token gate as its workers' onAuthError), and every queue that shares the
// token as its rateLimitQueues. One stop order: the workers first (close() waits for the jobs
// in hand), then what the stations prepared, then the token runtime, then the queues.
import type { Job, Queue } from 'bullmq';
import type { z } from 'zod';
import { describeError } from '../core/errors.js';
import { withRole, type Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import type { RetryAfterObserver } from '../jira/retry-after.js';
import type { QueueDef } from '../queues/define.js';
import type { RoleContext, RoleStarter } from '../queues/role.js';
import { openTokenQueues } from '../token/gate.js';
import { openTokenRuntime, type TokenRuntime } from '../token/runtime.js';
import { startWorker, type Processor, type StationWorker, type WorkerDeps } from './worker.js';

/** Tuning a role accepts (tests and crash drills shorten the lock and the stall check). */
export interface StationOptions {
  /** Overrides the queue catalog's concurrency. */
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
  /** Sees every Jira request let through and every Retry-After window opened (metrics, drills). */
  retryAfterObserver?: RetryAfterObserver;
}

/** What a station has before the token runtime opens. */
export interface RoleBase {
  ctx: RoleContext;
  logger: Logger;
  /** The role's connection for keys and queues (the workers get their own). */
  redis: Redis;
  /**
   * One resource per role process, made by the first station that asks for `key` and closed
   * once, after every worker has stopped (the notifier's and the respond stage's SMTP pool).
   */
  share<T>(key: string, make: () => T | Promise<T>, close: (t: T) => Promise<void>): Promise<T>;
}

export interface StationEnv extends RoleBase {
  /** The workaround token's runtime (only for a station that needs the token). */
  token: TokenRuntime;
}

export interface StationSpec<S extends z.ZodType, P> {
  /** The queue it takes jobs from: payload schema, retry policy, concurrency, audit subject. */
  queue: QueueDef<S>;
  /** Whether its processor works on the workaround token (Jira on the user's behalf). */
  needsToken: boolean;
  /** Made before anything talks to Jira: threads, pools, timers the processor uses. */
  prepare?(base: RoleBase): Promise<P>;
  /**
   * The processor, on what the role has and what prepare made; with what it made itself on
   * the token (its own release, and what to do when a job fails), when it made anything.
   */
  process(env: StationEnv, prepared: P): Processor<z.infer<S>> | Processing<z.infer<S>>;
  /** After the worker has stopped, before the token runtime closes. */
  release?(prepared: P): Promise<void>;
}

/** A processor with what process made for it. */
export interface Processing<T> {
  processor: Processor<T>;
  /** After the worker has stopped (before prepare's release). */
  release?(): Promise<void>;
  /** Told of a job that failed for good or for now (e.g. release what waits on it). */
  onFailed?(job: Job | undefined): Promise<void>;
}

/** A station, as its stage defines it (see the top of this file). */
export interface Station {
  readonly queue: string;
  readonly needsToken: boolean;
  /** Prepare (before the token runtime opens); then `start` the worker once it has. */
  open(base: RoleBase): Promise<{ start(env: StationEnv, deps: WorkerDeps): Running }>;
}

interface Running {
  worker: StationWorker;
  stop(): Promise<void>;
}

export function defineStation<S extends z.ZodType, P = undefined>(spec: StationSpec<S, P>): Station {
  return {
    queue: spec.queue.name,
    needsToken: spec.needsToken,
    async open(base) {
      const prepared = spec.prepare ? await spec.prepare(base) : (undefined as P);
      return {
        start(env, deps) {
          const made = spec.process(env, prepared);
          const p: Processing<z.infer<S>> = typeof made === 'function' ? { processor: made } : made;
          const worker = startWorker(spec.queue, p.processor, deps);
          if (p.onFailed) {
            worker.on('failed', (job) => {
              p.onFailed!(job).catch((e: unknown) => env.logger.warn({ queue: spec.queue.name, err: describeError(e) }, 'the station could not act on a failed job'));
            });
          }
          return {
            worker,
            async stop() {
              await worker.close();
              await p.release?.();
              await spec.release?.(prepared);
            },
          };
        },
      };
    },
  };
}

/** A role (one process's share of the work) that runs `stations`, each on its own connection. */
export function stationRole(role: string, stations: Station[], options: StationOptions = {}): RoleStarter {
  return async (ctx) => {
    const { config } = ctx;
    const logger = withRole(ctx.logger, role);
    const redis = ctx.redis(`${role}-keys`);
    const shared = sharedResources();
    const base: RoleBase = { ctx, logger, redis, share: shared.share };
    const opened = [];
    for (const station of stations) opened.push(await station.open(base));
    const needsToken = stations.some((s) => s.needsToken);
    const tokenQueues = needsToken ? openTokenQueues(redis, config.prefix) : [];
    // Every token-using role checks the token at start and periodically (harmless in many
    // copies): an expiring token or a lost permission is reported by whichever runs.
    const token = needsToken ? await openTokenRuntime({ connection: redis, config, logger, watch: true, retryAfterObserver: options.retryAfterObserver }) : undefined;
    const env: StationEnv = { ...base, token: token ?? noToken(role) };
    const running = opened.map((o, i) =>
      o.start(env, {
        connection: ctx.redis(i === 0 ? role : `${role}-${i + 1}`),
        prefix: config.prefix,
        retry: config.queues,
        logger,
        ...(stations[i]!.needsToken ? { onAuthError: token!.onAuthError, rateLimitQueues: tokenQueues } : {}),
        concurrency: options.concurrency,
        lockDuration: options.lockDuration,
        stalledInterval: options.stalledInterval,
      }),
    );
    return {
      async stop() {
        // close() stops taking jobs and waits for the ones in hand.
        for (const r of running) await r.stop();
        await shared.close();
        await token?.close();
        await Promise.all(tokenQueues.map((q: Pick<Queue, 'close'>) => q.close()));
      },
    };
  };
}

function sharedResources(): { share: RoleBase['share']; close(): Promise<void> } {
  const made = new Map<string, { value: Promise<unknown>; close: (t: never) => Promise<void> }>();
  return {
    share(key, make, close) {
      let entry = made.get(key);
      if (!entry) made.set(key, (entry = { value: Promise.resolve(make()), close: close as (t: never) => Promise<void> }));
      return entry.value as Promise<never>;
    },
    async close() {
      for (const { value, close } of made.values()) await close((await value) as never);
      made.clear();
    },
  };
}

/** A station that said it needs no token has none: reaching for it is a bug, said plainly. */
function noToken(role: string): TokenRuntime {
  return new Proxy({} as TokenRuntime, {
    get() {
      throw new Error(`the ${role} role's stations declared needsToken: false, yet one asked for the token`);
    },
  });
}
