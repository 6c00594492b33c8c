// The jira-deliver processor: a resolved mail becomes a Jira issue, a JSM request, or a
// comment on the issue it answers, with its attachments, exactly once.
//
// Exactly once rests on four things. (1) A per-mail lock around "check, then create", so two
// jobs for one mail (it reached two mailboxes) never both create. (2) The Redis ledger, keyed
// by the mail's identity (its Message-ID; Message-ID and content hash when another mail with
// other bytes holds that id): the normal path asks it alone and makes no Jira search. (3) A recovery look
// only when a create may have happened without Mailroom learning of it: this job sent a create
// whose answer it never recorded (lost answer, 5xx after the write, a crash before the ledger
// write), or the mail reached the mailbox before this ledger existed (a wiped Redis). The look
// uses JQL every Jira Cloud site answers (project, reporter, created in the last N minutes) and
// confirms each candidate by reading its `mailroom.message` property: properties are readable
// by GET, but an API-token client cannot make them JQL-searchable (only an installed app can).
// (4) Progress in the job's data (`deliver`): which issue, which attachments are up, so a
// re-run resumes.
//
// The steps: place.ts (lock, ledger, then thread.ts, comment.ts or create.ts), attachments.ts,
// outcome.ts; what they share is in delivery.ts.
import { availableParallelism } from 'node:os';
import { ms } from '../config/duration.js';
import { PermanentError } from '../core/errors.js';
import { metrics } from '../core/metrics.js';
import { createLedger } from '../ledger/ledger.js';
import { createParsePool, type ParsePool } from '../mail/parse-pool.js';
import { createMailStore, type MailStore } from '../mail/store.js';
import { createAuditTrail } from '../queues/audit.js';
import { jiraDeliver } from '../queues/catalog.js';
import { defineStation, type RoleBase, type Station, type StationEnv, type StationOptions } from '../station/station.js';
import type { Processor } from '../station/worker.js';
import { uploadAttachments } from './attachments.js';
import { openDelivery, type DeliverJob, type DelivererDeps } from './delivery.js';
import { askMailboxAction, reportDelivered, type DeliverResult } from './outcome.js';
import { placeMail } from './place.js';
import { holdIfProjectHeld, isRefusal, onRefusal } from './project-hold.js';
import { askAcknowledgement } from './acknowledge.js';
import { reconcileEvery } from './reconcile.js';
import { finishResolvedReply } from './resolved.js';

export { COMMENTS_PROPERTY, MESSAGE_PROPERTY, DELIVER_STATE_FIELD, type DeliverClient, type DeliverJob, type DelivererDeps } from './delivery.js';
export { RECOVERY_SETTLE_MS, RECOVERY_WINDOW_MS } from './create.js';
export { DEFAULT_LOCK_MS } from './place.js';
export { THREAD_RECHECK_MS, THREAD_WAIT_MS } from './thread.js';
export type { DeliverResult } from './outcome.js';

export function createDeliverer(deps: DelivererDeps): Processor<DeliverJob> {
  const ledger = createLedger(deps.redis, deps.prefix);
  // Stamp the ledger's birth as the deliverer starts, not at its first job: mails that arrive
  // while it starts up are then known to be newer than the ledger (no recovery search for them).
  ledger.bornAt().catch(() => undefined);

  return async (data, ctx) => {
    const mailbox = deps.mailbox(data.mailboxId);
    if (!mailbox) throw new PermanentError(`mail for mailbox "${data.mailboxId}", which is not in the configuration`);
    const route = mailbox.deliver;
    if (!route) throw new PermanentError(`mailbox "${data.mailboxId}" has no deliver section: say which project (or service desk) its mail goes to`);
    const kind = data.record.classification.kind;
    if (kind !== 'human') {
      // The resolver never hands classified mail on, and it alone asks for its mailbox action;
      // a job like this was added by hand: deliver nothing, act on nothing.
      ctx.log.warn({ kind }, 'classified mail in jira-deliver: not delivered');
      return { outcome: 'classified', kind } satisfies DeliverResult;
    }
    const d = await openDelivery({ deps, ledger, ctx, data, mailbox, route });
    try {
      // 0. A project whose permissions refused the last mails is held until they are granted.
      if (!d.state.target) await holdIfProjectHeld(d);
      // 1. Where the mail goes: an issue or request made now, or found made already; or a comment.
      const target = d.state.target ?? (await placeMail(d));
      // 1b. A reply to a resolved issue: the reopen after its comment, or the new issue's link (resolved.ts).
      await finishResolvedReply(d, target);
      // 2. Attachments, one step each, from the raw mail in the store (not for a mail delivered by another job).
      const oversize = !target.adopted && !d.state.finished ? await uploadAttachments(d, target) : 0;
      // 3. The poller moves or flags the mail (idempotent by job id).
      await askMailboxAction(d);
      // 4. A new issue's sender is acknowledged by mail, when the mailbox says so (src/respond/).
      await askAcknowledgement(d, target);
      return reportDelivered(d, target, oversize);
    } catch (e) {
      // A permission missing in this project (not the token's fault): counted by its breaker.
      if (isRefusal(e)) return onRefusal(d, e);
      throw e;
    }
  };
}

// ---- The station: jira-deliver, on the workaround token (src/station/station.ts) ----------

export interface DelivererStationOptions extends StationOptions {
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

export function delivererStation(o: DelivererStationOptions = {}): Station {
  return defineStation({
    queue: jiraDeliver,
    needsToken: true,
    prepare: async (base) => contentPool(base),
    process(env, contents) {
      // Mails that became two issues (index lag beyond the recovery window) are resolved here.
      const projects = env.ctx.config.mailboxes.map((m) => m.deliver?.project).filter((p): p is string => !!p);
      const reconcile = reconcileEvery({ redis: env.redis, prefix: env.ctx.config.prefix, projects, client: () => env.token.source.client(), log: env.logger, everyMs: o.reconcileEveryMs });
      return { processor: createDeliverer(delivererDeps(env, contents, o)), release: async () => reconcile.stop() };
    },
    release: (contents) => contents.close(),
  });
}

/**
 * Intake stores each mail's content beside it; a mail stored without (by an older version, or
 * over 8 MiB and so parsed from its head only) is parsed here, in worker threads of the mail
 * parse pool: a big or hostile one must not stall lock renewals. Its threads start when such a
 * mail comes and stop when idle. Parsing is linear and capped, so a parse over 60 s is a wedged
 * thread: it is stopped and the job retried.
 */
function contentPool({ logger }: RoleBase): ParsePool {
  return createParsePool({
    size: availableParallelism() >= 4 ? 2 : 1,
    timeoutMs: 60_000,
    onThreadsUnavailable: (why) => logger.warn({ why }, 'parser threads unavailable: parsing mail on the main thread'),
  });
}

function delivererDeps({ ctx: { config }, redis, token }: StationEnv, contents: ParsePool, o: DelivererStationOptions): DelivererDeps {
  const byId = new Map(config.mailboxes.map((m) => [m.id, m]));
  return {
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
}
