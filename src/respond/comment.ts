// What an agent's comment becomes for the customer: whether it may go at all (read through
// REST: public, not Mailroom's own, on an issue Mailroom made from mail with email-only
// participants), to whom, and the mail. Edited comments are never resent: only
// `comment_created` makes a job, and its id is fixed by the comment.
import type { MailboxConfig } from '../config/schema.js';
import { adfToText } from '../deliver/adf.js';
import { MESSAGE_PROPERTY } from '../deliver/delivery.js';
import type { AdfDoc } from '../jira/types.js';
import { LOOP_HEADER, loopHeaderValue } from '../mail/loop.js';
import { commentFiles, type MailFile } from './comment-files.js';
import type { ResponderClient } from './responder.js';
import { messageIdOfKey } from '../mail/ref.js';

export interface CommentMail {
  to: string[];
  mailboxId: string;
  from: string;
  maxPerHour: number;
  /** The customer mail's audit subject. */
  mail?: string;
  message(installId: string): { subject: string; text: string; headers: Record<string, string>; inReplyTo?: string; references: string[]; attachments?: MailFile[] };
}

/** The token's own account id, asked once per process: Mailroom's comments are never mailed back. */
let own: Promise<string | undefined> | undefined;

export async function commentMailFor(
  client: ResponderClient,
  issueKey: string,
  commentId: string,
  mailbox: (id: string) => MailboxConfig | undefined,
): Promise<CommentMail | { why: string }> {
  const c = await client.getComment(issueKey, commentId);
  own ??= client.myself().then((m) => m.accountId, () => { own = undefined; return undefined; });
  const self = await own;
  if (!self) return { why: 'the token account could not be read: cannot tell Mailroom\'s own comments apart' };
  if (c.authorId === self) return { why: 'Mailroom\'s own comment (a customer\'s mail): never mailed back' };
  if (c.restricted) return { why: 'the comment is restricted (visibility): internal' };
  if (c.jsdPublic !== true) return { why: c.jsdPublic === false ? 'an internal note (jsdPublic: false)' : 'Jira did not say the comment is public (no jsdPublic): nothing sent' };
  const prop = (await client.getIssueProperty(issueKey, MESSAGE_PROPERTY)) as { id?: unknown; mailboxId?: unknown; mailOnly?: unknown } | undefined;
  if (!prop || typeof prop.mailboxId !== 'string') return { why: `${issueKey} was not made from mail by Mailroom` };
  const to = Array.isArray(prop.mailOnly) ? prop.mailOnly.filter((x): x is string => typeof x === 'string').slice(0, 10) : [];
  if (!to.length) return { why: `${issueKey} has no email-only participants` };
  const box = mailbox(prop.mailboxId);
  if (!box?.respond?.comments) return { why: `mailbox ${prop.mailboxId} does not mail comments (respond.comments)` };
  // The property can be written by anyone who may edit issues, and an issue can be moved: mail
  // a comment only from an issue in the project this mailbox delivers to.
  const expected = box.deliver?.project;
  if (!expected) return { why: `mailbox ${prop.mailboxId} names no deliver.project: cannot confirm ${issueKey} is its own` };
  const files = box.respond.attachments;
  const issue = await client.getIssue(issueKey, ['summary', 'project', ...(files.mode !== 'off' ? ['attachment'] : [])]);
  const project = (issue.fields.project as { key?: unknown } | undefined)?.key;
  if (project !== expected) return { why: `${issueKey} is in project ${String(project)}, not ${expected} where mailbox ${prop.mailboxId} delivers (moved, or its property written by someone else): not mailed` };
  const summary = typeof issue.fields.summary === 'string' ? issue.fields.summary.replace(/[\r\n]+/g, ' ') : '';
  // The issue's first mail: its Message-ID is the property's id (without a #sha256 suffix).
  const first = typeof prop.id === 'string' ? messageIdOfKey(prop.id) : undefined;
  // Empty: the responder falls back to smtp.from.
  const from = box.respond.from ?? box.addresses[0] ?? '';
  const text = adfToText(c.body as AdfDoc);
  // After every check: nothing is downloaded for a comment that is not mailed.
  const { files: attachments, note } = await commentFiles(client, c.body, issue.fields.attachment, files);
  return {
    to,
    mailboxId: prop.mailboxId,
    from,
    maxPerHour: box.respond.maxPerRecipientPerHour,
    ...(typeof prop.id === 'string' ? { mail: prop.id } : {}),
    message: (installId) => ({
      subject: `Re: [${issueKey}] ${summary}`.trim().slice(0, 998),
      // Only the comment: nothing older is quoted.
      text: `${text}${note ? `\n\n${note}` : ''}\n\n-- \n${issueKey}: reply to this mail to answer.`,
      // Written by a person: no Auto-Submitted, no Precedence; our loop header keeps it out of Jira if it comes back.
      headers: { [LOOP_HEADER]: loopHeaderValue(installId, { issue: issueKey, kind: 'comment', comment: c.id }) },
      ...(first ? { inReplyTo: first } : {}),
      references: first ? [first] : [],
      ...(attachments.length ? { attachments } : {}),
    }),
  };
}
