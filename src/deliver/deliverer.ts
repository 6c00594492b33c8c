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
import { PermanentError } from '../core/errors.js';
import { createLedger } from '../ledger/ledger.js';
import type { Processor } from '../queues/worker.js';
import { uploadAttachments } from './attachments.js';
import { openDelivery, type DeliverJob, type DelivererDeps } from './delivery.js';
import { askMailboxAction, reportDelivered, type DeliverResult } from './outcome.js';
import { placeMail } from './place.js';
import { holdIfProjectHeld, isRefusal, onRefusal } from './project-hold.js';
import { askAcknowledgement } from './acknowledge.js';
import { finishResolvedReply } from './resolved.js';

export { COMMENTS_PROPERTY, MESSAGE_PROPERTY, STATE_FIELD, type DeliverClient, type DeliverJob, type DelivererDeps } from './delivery.js';
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
