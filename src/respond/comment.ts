// What an agent's comment becomes for the customer: whether it may go at all (read through
// REST: public, not Mailroom's own, on an issue Mailroom made from mail with email-only
// participants), to whom, and the mail. Edited comments are never resent: only
// `comment_created` makes a job, and its id is fixed by the comment.
import type { MailboxConfig } from '../config/schema.js';
import { MESSAGE_PROPERTY } from '../deliver/delivery.js';
import { mailOnlyOfProperty } from '../deliver/mail-only.js';
import { LOOP_HEADER, loopHeaderValue } from '../mail/loop.js';
import { commentFiles, type MailFile } from './comment-files.js';
import { commentText } from './comment-text.js';
import type { ResponderClient } from './responder.js';
import { ID_CHARS } from '../mail/record-bound.js';
import { messageIdOfKey } from '../mail/ref.js';

export interface CommentMail {
  to: string[];
  mailboxId: string;
  from: string;
  maxPerHour: number;
  /** The customer mail's audit subject. */
  mail?: string;
  /** Entries of the property's mailOnly that are not one plain address Mailroom may mail (not mailed). */
  dropped: number;
  /** `loopDomain`: smtp.from's (loopDomainOf), for the loop header. */
  message(installId: string, loopDomain: string): { subject: string; text: string; headers: Record<string, string>; inReplyTo?: string; references: string[]; attachments?: MailFile[] };
}

/**
 * The token's own account id, asked once per client: Mailroom's comments are never mailed back.
 * Per client, not per process: `mailroom token rotate --email` may name another account, and the
 * token source makes a new client for the new token, whose comments are then Mailroom's.
 */
const owners = new WeakMap<object, Promise<string | undefined>>();

function ownAccount(client: ResponderClient): Promise<string | undefined> {
  let own = owners.get(client);
  if (!own) {
    own = client.myself().then(
      (m) => m.accountId,
      () => {
        owners.delete(client);
        return undefined;
      },
    );
    owners.set(client, own);
  }
  return own;
}

export async function commentMailFor(
  client: ResponderClient,
  issueKey: string,
  commentId: string,
  mailbox: (id: string) => MailboxConfig | undefined,
): Promise<CommentMail | { why: string }> {
  const c = await client.getComment(issueKey, commentId);
  const self = await ownAccount(client);
  if (!self) return { why: 'the token account could not be read: cannot tell Mailroom\'s own comments apart' };
  if (c.authorId === self) return { why: 'Mailroom\'s own comment (a customer\'s mail): never mailed back' };
  if (c.restricted) return { why: 'the comment is restricted (visibility): internal' };
  if (c.jsdPublic !== true) return { why: c.jsdPublic === false ? 'an internal note (jsdPublic: false)' : 'Jira did not say the comment is public (no jsdPublic): nothing sent' };
  const prop = (await client.getIssueProperty(issueKey, MESSAGE_PROPERTY)) as { id?: unknown; mailboxId?: unknown; mailOnly?: unknown } | undefined;
  if (!prop || typeof prop.mailboxId !== 'string') return { why: `${issueKey} was not made from mail by Mailroom` };
  const box = mailbox(prop.mailboxId);
  if (!box?.respond?.comments) return { why: `mailbox ${prop.mailboxId} does not mail comments (respond.comments)` };
  // Written by anyone who may edit the issue: each entry is checked again as one plain address.
  const { to, dropped } = mailOnlyOfProperty(prop.mailOnly, { ownAddresses: box.addresses, blockedLocalParts: box.policy.blockedLocalParts });
  if (!to.length) return { why: `${issueKey} has no email-only participants${dropped ? ` (${dropped} entr${dropped === 1 ? 'y' : 'ies'} of its ${MESSAGE_PROPERTY} property not one plain address Mailroom may mail)` : ''}` };
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
  const key = mailKeyOfProperty(prop.id);
  const first = key ? messageIdOfKey(key) : undefined;
  // Empty: the responder falls back to smtp.from.
  const from = box.respond.from ?? box.addresses[0] ?? '';
  const text = commentText(c.body);
  // After every check: nothing is downloaded for a comment that is not mailed.
  const { files: attachments, note } = await commentFiles(client, c.body, issue.fields.attachment, files);
  return {
    to,
    dropped,
    mailboxId: prop.mailboxId,
    from,
    maxPerHour: box.respond.maxPerRecipientPerHour,
    ...(key ? { mail: key } : {}),
    message: (installId, loopDomain) => ({
      subject: `Re: [${issueKey}] ${summary}`.trim().slice(0, 998),
      // Only the comment: nothing older is quoted.
      text: `${text}${note ? `\n\n${note}` : ''}\n\n-- \n${issueKey}: reply to this mail to answer.`,
      // Written by a person: no Auto-Submitted, no Precedence; our loop header keeps it out of Jira if it comes back.
      headers: { [LOOP_HEADER]: loopHeaderValue(installId, { domain: loopDomain, issue: issueKey, kind: 'comment', comment: c.id }) },
      ...(first ? { inReplyTo: first } : {}),
      references: first ? [first] : [],
      ...(attachments.length ? { attachments } : {}),
    }),
  };
}

/** A ledger key at most: a Message-ID as the record keeps it, and `#sha256:` with a hash (ref.ts). */
const MAX_MAIL_KEY = ID_CHARS + '#sha256:'.length + 64;

/**
 * The mail key the `mailroom.message` property names, when it is one Mailroom could have
 * written: anyone who may edit the issue can write the property, and this id goes into the
 * customer mail's In-Reply-To and References and into the audit trail. One line, no spaces or
 * angle brackets, no longer than a ledger key; anything else threads nothing.
 */
export function mailKeyOfProperty(id: unknown): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (typeof id !== 'string' || !id || id.length > MAX_MAIL_KEY || /[\s<>\u0000-\u001f\u007f-\u009f]/.test(id)) return undefined;
  return id;
}
