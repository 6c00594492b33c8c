// The `respond` job of kind `bounce`: a mail Mailroom sent to a customer came back
// (src/identity/bounce.ts matched it through the ledger), and its issue is told in an INTERNAL
// note. Nobody is mailed: not the reporting server (no backscatter), not the customer.
//
// Internal means: on a JSM request (the mailbox delivers to a service desk) JSM's own comment
// with `public: false` (servicedeskapi createRequestComment); on a plain Jira issue a comment
// restricted to `respond.noteRole` (platform addComment, `visibility: { type: 'role' }`). The
// note is the token account's own comment, so the comment mailer would never mail it anyway
// (comment.ts refuses Mailroom's own comments, restricted ones and internal notes).
//
// Once: the note's outcome is kept like a mail's (respond:outcome:<job id>), so a retry after
// the note was made does not make another; a crash between Jira's answer and that record makes
// a second note (the cap in bounce.ts still holds per report).
import { createHash } from 'node:crypto';
import { NotFoundError, PermanentError } from '../core/errors.js';
import { ROLE_MEMBERSHIP } from '../jira/classify.js';
import { PermissionError } from '../jira/errors.js';
import { textToAdf } from '../deliver/adf.js';
import { plainText } from '../mail/bounce.js';
import { normalizeMessageId } from '../mail/id.js';
import type { BounceRecipient } from '../mail/record.js';
import type { ProcessorContext } from '../station/worker.js';
import { openOutbox } from './outbox.js';
import type { RespondJob, RespondResult, ResponderDeps } from './responder.js';

export type BounceJob = Extract<RespondJob, { kind: 'bounce' }>;

/** The outbox field the note's outcome is kept in (mails use the recipient's address). */
const NOTE_FIELD = 'note';

export async function noteBounce(deps: ResponderDeps, ctx: ProcessorContext, data: BounceJob): Promise<RespondResult> {
  const result: RespondResult = { kind: 'bounce', sent: 0, already: 0, skipped: 0, failed: 0 };
  const outbox = openOutbox(deps.redis, deps.prefix, String(ctx.job.id));
  const before = await outbox.read(NOTE_FIELD);
  if (before?.state === 'sent' || before?.state === 'skipped') return { ...result, already: 1 };
  if (!deps.jira) return { ...result, skipped: 1, why: 'no Jira client: the note cannot be written' };
  const mailbox = deps.mailbox(data.mailboxId);
  const jsm = !!mailbox?.deliver && 'serviceDeskId' in mailbox.deliver;
  const role = mailbox?.respond?.noteRole ?? 'Administrators';
  const lines = bounceNoteLines(data);
  const client = await deps.jira();
  const restricted = async () => (await client.addComment(data.issueKey, textToAdf(lines.join('\n'), { stripQuotedHistory: false }), { visibility: { type: 'role', value: role } })).id;
  let id: string;
  let how = jsm ? 'JSM, public: false' : `visible to role ${role}`;
  let jsmRefusal: string | undefined;
  try {
    // JSM answers 404 for an issue that is not a request (the mailbox delivered elsewhere when
    // the mail was sent), and 403 when it refuses the token's account the comment (its only
    // documented requirement is Add Comments: docs/jira.md): then the role-restricted comment,
    // which JSM does not show customers either. A 403 is a PermissionError, never a refused
    // token (src/jira/classify.ts): nothing pauses.
    id = jsm
      ? await client.addRequestComment(data.issueKey, jiraTextSafe(lines.join('\n')), false).then(
          (c) => c.id,
          (e: unknown) => {
            if (!(e instanceof NotFoundError) && !(e instanceof PermissionError)) throw e;
            if (e instanceof PermissionError) jsmRefusal = e.message;
            how = `${e instanceof NotFoundError ? 'not a JSM request' : `JSM refused the internal comment (${e.message})`}: visible to role ${role}`;
            return restricted();
          },
        )
      : await restricted();
  } catch (e) {
    if (e instanceof PermissionError) {
      // Refused here as well (no Add Comments in the issue's project, or its status locks
      // comments): the note cannot be written by this account. The audit trail says why; the
      // job fails naming the permission, and may be run again once it is granted. The token
      // works, so nothing pauses.
      const fix =
        e.permission === ROLE_MEMBERSHIP
          ? `Add the workaround user to the project role "${role}" in the issue's project, or set mailboxes[${data.mailboxId}].respond.noteRole to a role it is in`
          : `Grant ${e.permission} to the workaround user in the issue's project`;
      const why = `Jira refused the internal note on ${data.issueKey}${jsmRefusal ? ` (JSM: ${jsmRefusal}; then the comment visible to role ${role}: ${e.message})` : ` (${e.message})`}. ${fix} to have bounces noted`;
      await record(deps, data, 'failed', why);
      throw new PermanentError(why);
    }
    if (!(e instanceof NotFoundError)) throw e;
    const why = `${data.issueKey} no longer exists (or the token cannot see it): the bounce is not noted`;
    await outbox.record(NOTE_FIELD, { state: 'skipped', at: new Date().toISOString(), why });
    await record(deps, data, 'skipped', why);
    return { ...result, skipped: 1, why };
  }
  await outbox.record(NOTE_FIELD, { state: 'sent', at: new Date().toISOString(), messageId: `comment ${id}` });
  // A refusal was counted `failed` when it happened.
  if (!data.refused) deps.metrics?.customerMails.inc({ kind: data.sent.kind, outcome: 'bounced' });
  const fate = data.refused === 'ceiling' ? 'held back by respond.maxPerRecipientPerHour' : data.refused ? 'refused by the SMTP server' : 'bounced';
  await record(deps, data, 'ok', `internal note ${id} (${how}): ${what(data)} to ${data.sent.to} ${fate}`);
  ctx.log.info({ issueKey: data.issueKey, commentId: id }, 'bounce noted on the issue');
  return { ...result, sent: 1 };
}

async function record(deps: ResponderDeps, data: BounceJob, outcome: string, detail: string): Promise<void> {
  // Under the bounce mail and under the customer's address: `mailroom audit <address>` shows it.
  await deps.audit?.record({ mail: data.bounceMail, email: data.sent.to, mailboxId: data.mailboxId, step: 'bounce-noted', outcome, jira: data.issueKey, detail });
}

function what(data: BounceJob): string {
  if (data.sent.kind === 'acknowledge') return `the acknowledgement of ${data.issueKey}`;
  if (data.sent.kind === 'comment') return `comment ${data.sent.commentId ?? '?'} mailed from ${data.issueKey}`;
  return `a mail about ${data.issueKey}`;
}

/** The note, line by line: who did not get which mail, when, and what the report says. Pure. */
export function bounceNoteLines(data: BounceJob): string[] {
  const reporter = data.reporter ? plainText(data.reporter, 200) : 'an unnamed sender';
  if (data.refused === 'ceiling') {
    return [
      `Mailroom: a mail to the customer was held back. ${capital(what(data))}, to ${plainText(data.sent.to, 320)}, was not sent at ${plainText(data.sent.at, 40)}: Mailroom had reached its ceiling of mails to this address within an hour, which stops mail loops.`,
      ...data.recipients.map((r) => `- ${plainText(r.diagnostic ?? '', 300)}`),
      'The customer did not get it. This note is internal: the customer does not see it. At most one such note per address and hour.',
    ];
  }
  if (data.refused) {
    return [
      `Mailroom: a mail to the customer was refused. ${capital(what(data))}, to ${plainText(data.sent.to, 320)}, was refused for good at ${plainText(data.sent.at, 40)} by the SMTP server Mailroom sends through. Its answer:`,
      ...data.recipients.map(recipientLine),
      'The customer did not get it. This note is internal: the customer does not see it. Check the address with the customer by another way, or correct it in the issue.',
    ];
  }
  return [
    `Mailroom: a mail to the customer bounced. ${capital(what(data))}, sent to ${plainText(data.sent.to, 320)} at ${plainText(data.sent.at, 40)}, did not arrive.`,
    `The delivery report came from ${reporter}${data.reportedAt ? ` (dated ${plainText(data.reportedAt, 40)})` : ''}. It says (the reporting server's words, not checked):`,
    ...(data.recipients.length ? data.recipients.map(recipientLine) : ['- it names no recipient.']),
    'Nothing was mailed back. This note is internal: the customer does not see it. Check the address with the customer by another way, or correct it in the issue.',
  ];
}

function recipientLine(r: BounceRecipient): string {
  const status = r.status ? `, status ${r.status}${r.status.startsWith('5') ? ' (permanent)' : r.status.startsWith('4') ? ' (temporary)' : ''}` : '';
  return `- ${plainText(r.recipient, 320)}: ${plainText(r.action, 20)}${status}${r.diagnostic ? `: ${plainText(r.diagnostic, 300)}` : ''}`;
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * JSM renders a request comment's text as wiki markup: a remote server's words could make links
 * (`[text|url]`), images (`!url!`) or macros (`{…}`). Those characters become harmless lookalikes.
 */
export function jiraTextSafe(s: string): string {
  return s.replace(/[[\]{}|!]/g, (c) => ({ '[': '(', ']': ')', '{': '(', '}': ')', '|': '/', '!': '.' })[c]!);
}

/**
 * The note for a customer mail that did not go: the SMTP server refused it for good when it was
 * handed over (a 5xx), or the hourly ceiling held it back. To the agents that is a bounce (the
 * customer did not get it), so it is noted the same way, `why` standing for the report. Its job
 * id is fixed by our Message-ID (`mail`: for a mail never given one, the job and address). Pure.
 */
export function refusalNote(o: {
  refused: 'smtp' | 'ceiling';
  mailboxId: string;
  issueKey: string;
  /** The customer mail's audit subject, else the respond job's id. */
  subject: string;
  mail: string;
  kind: 'acknowledge' | 'comment';
  commentId?: string;
  to: string;
  why: string;
  at: string;
}): BounceJob {
  const status = o.refused === 'smtp' ? /\b([45]\.\d{1,3}\.\d{1,3})\b/.exec(o.why)?.[1] : undefined;
  return {
    kind: 'bounce',
    mailboxId: o.mailboxId,
    issueKey: o.issueKey,
    bounceMail: o.subject.slice(0, 300),
    ourKey: createHash('sha256').update(o.refused === 'smtp' ? normalizeMessageId(o.mail) : o.mail).digest('hex'),
    sent: { kind: o.kind, ...(o.commentId ? { commentId: o.commentId } : {}), to: o.to.slice(0, 320), at: o.at.slice(0, 40) },
    recipients: [{ recipient: o.to.slice(0, 320), action: 'failed', ...(status ? { status } : {}), diagnostic: plainText(o.why, 300) }],
    refused: o.refused,
  };
}
