// The deliverer role: the Jira client on the stored workaround token behind the Retry-After
// gate, the token gate (an AuthError pauses every queue that needs the token), the mail store,
// and the jira-deliver worker. workers/deliverer.ts only calls runRoles().
import { availableParallelism } from 'node:os';
import { ms } from '../config/duration.js';
import type { Worker } from 'bullmq';
import { createMailStore, type MailStore } from '../mail/store.js';
import { createAuditTrail } from '../queues/audit.js';
import { metrics } from '../core/metrics.js';
import { jiraDeliver } from '../queues/catalog.js';
import { startWorker, type WorkerOptions } from '../queues/worker.js';
import type { RoleStarter } from '../queues/role.js';
import { tokenWorkerRole, type RoleBase, type TokenRoleEnv, type TokenRoleOptions, type TokenRoleParts } from '../token/worker-role.js';
import { createParsePool, type ParsePool } from '../mail/parse-pool.js';
import { createDeliverer, type DelivererDeps } from './deliverer.js';
import { reconcileEvery } from './reconcile.js';

export type DelivererWorkerOptions = WorkerOptions;

/** The jira-deliver worker; concurrency and stall settings come from the queue catalog unless `o` says otherwise. */
export function startDelivererWorker(deps: DelivererDeps, o: DelivererWorkerOptions): Worker {
  return startWorker(jiraDeliver, createDeliverer(deps), { prefix: deps.prefix, retry: deps.retry, ...o });
}

export interface DelivererRoleOptions extends TokenRoleOptions {
  /** The per-mail hold while checking and creating (DEFAULT_LOCK_MS). */
  mailLockMs?: number;
  /** Another store (tests); default: the configured one. */
  store?: MailStore;
  /** Wait before a recovery search (RECOVERY_SETTLE_MS); the simulator has no index lag. */
  recoverySettleMs?: number;
  /** How long to keep looking for a lost create's issue before creating again (RECOVERY_WINDOW_MS). */
  recoveryWindowMs?: number;
  /** How often the reconcile pass runs (RECONCILE_EVERY_MS). */
  reconcileEveryMs?: number;
  /** How often a project held by its breaker is re-checked (BREAKER_RECHECK_MS); tests shorten it. */
  breakerRecheckMs?: number;
}

export function delivererRole(o: DelivererRoleOptions = {}): RoleStarter {
  return tokenWorkerRole({
    role: 'deliverer',
    options: o,
    prepare: contentPool,
    build: (env, contents) => delivererParts(env, contents, o),
  });
}

/**
 * Intake stores each mail's content beside it; a mail stored without (by an older version, or
 * over 8 MiB and so parsed from its head only) is parsed here, in worker threads of the mail
 * parse pool: a big or hostile one must not stall lock renewals. Its threads start when such a
 * mail comes and stop when idle. Parsing is linear and capped, so a parse over 60 s is a wedged
 * thread: it is stopped and the job retried.
 */
async function contentPool({ logger }: RoleBase): Promise<ParsePool> {
  return createParsePool({
    size: availableParallelism() >= 4 ? 2 : 1,
    timeoutMs: 60_000,
    onThreadsUnavailable: (why) => logger.warn({ why }, 'parser threads unavailable: parsing mail on the main thread'),
  });
}

function delivererParts({ ctx: { config }, redis, token, logger }: TokenRoleEnv, contents: ParsePool, o: DelivererRoleOptions): TokenRoleParts {
  const byId = new Map(config.mailboxes.map((m) => [m.id, m]));
  const deps: DelivererDeps = {
    redis,
    prefix: config.prefix,
    mailbox: (id) => byId.get(id),
    store: o.store ?? createMailStore(config, redis),
    jira: () => token.source.client(),
    retry: config.queues,
    ...(o.mailLockMs ? { lockMs: o.mailLockMs } : {}),
    ...(o.recoverySettleMs !== undefined ? { recoverySettleMs: o.recoverySettleMs } : {}),
    recoveryWindowMs: o.recoveryWindowMs ?? ms(config.jira.searchLagWindow),
    ...(o.breakerRecheckMs !== undefined ? { breakerRecheckMs: o.breakerRecheckMs } : {}),
    audit: createAuditTrail({ redis, prefix: config.prefix }),
    metrics,
    parseContent: (raw) => contents.content(raw),
  };
  // Mails that became two issues (index lag beyond the recovery window) are resolved here.
  const projects = config.mailboxes.map((m) => m.deliver?.project).filter((p): p is string => !!p);
  const reconcile = reconcileEvery({ redis, prefix: config.prefix, projects, client: () => token.source.client(), log: logger, everyMs: o.reconcileEveryMs });
  return {
    workers: [(w) => startDelivererWorker(deps, w)],
    release: async () => {
      reconcile.stop();
      await contents.close();
    },
  };
}
