// After delivery: the poller is asked to move or flag the mail, and the outcome goes to the log,
// the job's story and the pipeline's audit trail.
import { mailboxActions } from '../queues/catalog.js';
import { tell } from '../queues/story.js';
import type { Delivery, Target } from './delivery.js';

export type DeliverResult =
  | { outcome: 'classified'; kind: string }
  | { outcome: 'delivered' | 'duplicate'; kind: Target['kind']; issueKey: string; commentId?: string; uploaded: number; oversize: number; failed: number };

/** The poller moves or flags the mail (idempotent by job id). */
export async function askMailboxAction(d: Delivery): Promise<void> {
  const { data } = d;
  if (data.origin.kind !== 'imap') return;
  await d.ctx.add(mailboxActions, {
    mailboxId: data.mailboxId,
    uidvalidity: data.origin.uidvalidity,
    uid: data.origin.uid,
    outcome: 'delivered',
    ...(data.origin.epoch ? { epoch: data.origin.epoch } : {}),
  });
}

/** Logs, tells and audits where the mail went; the job's result. */
export async function reportDelivered(d: Delivery, target: Target, oversize: number): Promise<DeliverResult> {
  const { state } = d;
  const result: DeliverResult = {
    outcome: target.adopted ? 'duplicate' : 'delivered',
    kind: target.kind,
    issueKey: target.issueKey,
    ...(target.commentId ? { commentId: target.commentId } : {}),
    uploaded: state.uploaded.length - state.failed.length,
    oversize,
    failed: state.failed.length,
  };
  d.ctx.log.info(result, target.adopted ? 'mail was delivered already: nothing created' : 'mail delivered');
  const others = `${oversize ? `, ${oversize} over the size limit` : ''}${state.failed.length ? `, ${state.failed.length} refused by Jira` : ''}`;
  await tell(d.ctx.job, `done: ${target.issueKey}; ${result.uploaded} attachment(s) uploaded${others}`);
  await d.deps.audit?.record({
    mail: d.auditId,
    mailboxId: d.data.mailboxId,
    email: d.record.from?.address,
    step: 'delivered',
    outcome: target.adopted ? 'duplicate' : 'ok',
    jira: `${target.kind} ${target.issueKey}${target.commentId ? ` comment ${target.commentId}` : ''}`,
    detail: `${result.uploaded} attachments uploaded${others}`,
  });
  return result;
}
