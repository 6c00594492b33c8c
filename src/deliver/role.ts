// The deliverer role: the Jira client on the stored workaround token behind the Retry-After
// gate, the token gate (an AuthError pauses every queue that needs the token), the mail store,
// and the jira-deliver worker. workers/deliverer.ts only calls runRoles().
import { availableParallelism } from 'node:os';
import type { Worker } from 'bullmq';
import { createMailStore, type MailStore } from '../mail/store.js';
import { createAuditTrail } from '../queues/audit.js';
import { jiraDeliver, mailboxActions } from '../queues/catalog.js';
import { openQueue } from '../queues/queue.js';
import { startWorker, type WorkerOptions } from '../queues/worker.js';
import type { RoleContext, RoleStarter } from '../queues/role.js';
import { openTokenQueues } from '../token/gate.js';
import { openTokenRuntime } from '../token/runtime.js';
import { createParsePool } from '../mail/parse-pool.js';
import { createDeliverer, type DelivererDeps } from './deliverer.js';

// Each delivery is a few Jira writes plus uploads: a handful in parallel keeps Jira's rate
// limits at bay while hiding its latency.
export const DELIVERER_CONCURRENCY = 8;
// Deliveries are idempotent (ledger, issue property, steps in job data), so running a job
// again after its worker died is safe; BullMQ's default of 1 would fail a mail whose worker
// crashed twice, which helps nobody.
export const DELIVERER_MAX_STALLED = 10;

export type DelivererWorkerOptions = WorkerOptions;

export function startDelivererWorker(deps: DelivererDeps, o: DelivererWorkerOptions): Worker {
  return startWorker(jiraDeliver, createDeliverer(deps), {
    connection: o.connection,
    prefix: deps.prefix,
    logger: o.logger,
    concurrency: o.concurrency ?? DELIVERER_CONCURRENCY,
    retry: deps.retry,
    onAuthError: o.onAuthError,
    rateLimitQueues: o.rateLimitQueues,
    lockDuration: o.lockDuration,
    stalledInterval: o.stalledInterval,
    maxStalledCount: o.maxStalledCount ?? DELIVERER_MAX_STALLED,
  });
}

export interface DelivererRoleOptions {
  /** Tests shorten these to see a killed worker's jobs again quickly. */
  lockDuration?: number;
  stalledInterval?: number;
  /** The per-mail hold while checking and creating (DEFAULT_LOCK_MS). */
  mailLockMs?: number;
  concurrency?: number;
  /** Another store (tests); default: the configured one. */
  store?: MailStore;
  /** Wait before a recovery search (RECOVERY_SETTLE_MS); the simulator has no index lag. */
  recoverySettleMs?: number;
}

export function delivererRole(o: DelivererRoleOptions = {}): RoleStarter {
  return async (ctx: RoleContext) => {
    const { config } = ctx;
    const logger = ctx.logger.child({ role: 'deliverer' });
    const redis = ctx.redis('deliverer-keys');
    const q = { prefix: config.prefix, connection: redis };
    const actionsQueue = openQueue(mailboxActions, q);
    const tokenQueues = openTokenQueues(redis, config.prefix);
    // Intake stores each mail's content beside it; a mail stored without (by an older version,
    // or over 8 MiB and so parsed from its head only) is parsed here, in worker threads of the
    // mail parse pool: a big or hostile one must not stall lock renewals. Its threads start
    // when such a mail comes and stop when idle. Parsing is linear and capped, so a parse over
    // 60 s is a wedged thread: it is stopped and the job retried.
    const contents = createParsePool({
      size: availableParallelism() >= 4 ? 2 : 1,
      timeoutMs: 60_000,
      onThreadsUnavailable: (why) => logger.warn({ why }, 'parser threads unavailable: parsing mail on the main thread'),
    });
    const token = await openTokenRuntime({ connection: redis, config, logger, watch: true });
    const byId = new Map(config.mailboxes.map((m) => [m.id, m]));
    const worker = startDelivererWorker(
      {
        redis,
        prefix: config.prefix,
        mailbox: (id) => byId.get(id),
        store: o.store ?? createMailStore(config, redis),
        jira: () => token.source.client(),
        mailboxActions: actionsQueue,
        retry: config.queues,
        ...(o.mailLockMs ? { lockMs: o.mailLockMs } : {}),
        ...(o.recoverySettleMs !== undefined ? { recoverySettleMs: o.recoverySettleMs } : {}),
        audit: createAuditTrail({ redis, prefix: config.prefix }),
        parseContent: (raw) => contents.content(raw),
      },
      {
        connection: ctx.redis('deliverer'),
        logger,
        concurrency: o.concurrency,
        onAuthError: token.onAuthError,
        rateLimitQueues: tokenQueues,
        lockDuration: o.lockDuration,
        stalledInterval: o.stalledInterval,
      },
    );
    return {
      async stop() {
        await worker.close();
        await contents.close();
        await token.close();
        await Promise.all([...tokenQueues, actionsQueue].map((x) => x.close()));
      },
    };
  };
}
