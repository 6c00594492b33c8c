// The deliverer role: the Jira client on the stored workaround token behind the Retry-After
// gate, the token gate (an AuthError pauses every queue that needs the token), the mail store,
// and the jira-deliver worker. workers/deliverer.ts only calls runRoles().
import type { Worker } from 'bullmq';
import { createMailStore, type MailStore } from '../mail/store.js';
import { createAuditTrail } from '../queues/audit.js';
import { jiraDeliver } from '../queues/catalog.js';
import { startWorker, type WorkerOptions } from '../queues/worker.js';
import type { RoleStarter } from '../queues/role.js';
import { tokenWorkerRole, type RoleBase, type TokenRoleEnv, type TokenRoleOptions, type TokenRoleParts } from '../token/worker-role.js';
import { createContentPool, type ContentPool } from './content-pool.js';
import { createDeliverer, type DelivererDeps } from './deliverer.js';

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
}

export function delivererRole(o: DelivererRoleOptions = {}): RoleStarter {
  return tokenWorkerRole({
    role: 'deliverer',
    options: o,
    prepare: readyContentPool,
    build: (env, contents) => delivererParts(env, contents, o),
  });
}

/** Mails are parsed in worker threads: a big or hostile one must not stall lock renewals. */
async function readyContentPool({ logger }: RoleBase): Promise<ContentPool> {
  const contents = createContentPool();
  // Before anything talks to Jira, and before any job is taken (bounded): a job would only
  // wait for the thread, holding its lock.
  await contents.ready();
  if (contents.threadsUnavailable) logger.warn({ why: contents.threadsUnavailable }, 'parser threads unavailable: parsing mail on the main thread');
  return contents;
}

function delivererParts({ ctx: { config }, redis, token }: TokenRoleEnv, contents: ContentPool, o: DelivererRoleOptions): TokenRoleParts {
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
    audit: createAuditTrail({ redis, prefix: config.prefix }),
    parseContent: (raw) => contents.parse(raw),
  };
  return {
    workers: [(w) => startDelivererWorker(deps, w)],
    release: () => contents.close(),
  };
}
