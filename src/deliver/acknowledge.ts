// The deliverer's hand-off to the respond stage: once a mail became a NEW issue or request,
// its sender is owed an acknowledgement (decide.ts says whether). Idempotent: the respond job's
// id is fixed by mailbox, issue and recipient, so a re-run of the delivery adds nothing.
import { verdictOf } from '../mail/sender-trust.js';
import { respond } from '../queues/catalog.js';
import type { Delivery, Target } from './delivery.js';
import { peopleOf, summaryOf } from './route.js';
import { decideAcknowledgement } from './ack-decide.js';

export async function askAcknowledgement(d: Delivery, target: Target): Promise<void> {
  // A comment is not a new issue; an adopted target was made (and acknowledged) by another job.
  if (target.kind === 'comment' || target.adopted || !d.mailbox.respond) return;
  const { record } = d;
  const reporter = peopleOf(d.data.people).reporter;
  const decision = decideAcknowledgement({
    respond: d.mailbox.respond,
    classification: record.classification.kind,
    ...(record.classification.suspected ? { suspected: record.classification.suspected } : {}),
    sender: record.from?.address,
    verdict: verdictOf(record, d.mailbox),
    ownAddresses: d.mailbox.addresses,
    blockedLocalParts: d.mailbox.policy.blockedLocalParts,
    kind: target.kind,
    senderAccountId: reporter,
  });
  if (!decision.send) {
    d.ctx.log.info({ issueKey: target.issueKey, why: decision.why }, 'no acknowledgement');
    await d.deps.audit?.record({ mail: d.auditId, mailboxId: d.data.mailboxId, email: record.from?.address, step: 'acknowledgement', outcome: 'skipped', jira: target.issueKey, detail: decision.why });
    return;
  }
  await d.ctx.add(respond, {
    kind: 'acknowledge',
    mailboxId: d.data.mailboxId,
    issueKey: target.issueKey,
    to: decision.to,
    summary: summaryOf(record.subject, record.from).slice(0, 500),
    subject: record.subject.slice(0, 1000),
    ...(record.messageId ? { inReplyTo: record.messageId } : {}),
    references: record.references.slice(-19),
    link: decision.link,
    mail: d.auditId,
  });
}
