// A reply becomes a comment on the issue it joins, once: the issue's COMMENTS_PROPERTY lists the
// mails already added there, so a re-run after a Redis loss does not comment twice. The list is
// read, then written: replies to one issue take turns (an issue lock in Redis), or two at once
// would each write the list they read and one record would be lost. The same read tells whether
// the issue is resolved: then the mailbox's rule decides (resolved.ts).
import { NotFoundError } from '../core/errors.js';
import { IssueLimitError, PermissionError } from '../jira/errors.js';
import type { AdfDoc } from '../jira/types.js';
import { isForward, textToAdf } from './adf.js';
import type { Delivery, Target } from './delivery.js';
import { COMMENTS_PROPERTY } from './properties.js';
import { establishGone } from './gone.js';
import { applyResolvedRule, divertReply, newFollowUp, refusedComment, RESOLVED_FIELDS } from './resolved.js';
import { commentPreface } from './route.js';
import { senderNote } from './sender-note.js';
import { suspectLine } from './suspect.js';

/** Comment ids kept in COMMENTS_PROPERTY: well under Jira's 32 KB property limit. */
const COMMENT_IDS_KEPT = 200;

/** How long an issue is held for one comment (renewed while its holder lives). */
const ISSUE_LOCK_MS = 30_000;

/** The comment made (or found made) on issueKey; undefined when the issue is established gone (gone.ts). */
export async function commentOn(d: Delivery, issueKey: string, hops = 0): Promise<Target | undefined> {
  const release = await d.ledger.lockIssue(issueKey, d.deps.lockMs ?? ISSUE_LOCK_MS);
  try {
    return await commentHeld(d, issueKey, hops);
  } finally {
    await release();
  }
}

async function commentHeld(d: Delivery, issueKey: string, hops: number): Promise<Target | undefined> {
  const issue = await commentedMails(d, issueKey);
  if (!issue) return undefined;
  const { seen, fields } = issue;
  if (seen.includes(d.mk)) return d.remember({ kind: 'comment', issueKey, adopted: true });
  // A resolved issue: the mailbox's rule (resolved.ts); 'new-issue' makes the mail a new issue,
  // or it joins the issue an earlier reply to this one made.
  const rule = await applyResolvedRule(d, issueKey, fields, hops);
  if (rule !== 'comment') return followed(d, issueKey, rule, hops);
  const { text } = await d.mail();
  const body: AdfDoc = textToAdf(text, { stripQuotedHistory: d.route.stripQuotedHistory && !isForward(d.record.subject), preface: [suspectLine(d.record.classification), senderNote(d.record, d.mailbox), commentPreface(d.record)].filter((x) => x !== undefined), notes: await d.oversizeNotes() });
  let c: { id: string };
  try {
    c = await d.client.addComment(issueKey, body);
  } catch (e) {
    // Refused on this issue alone (its status takes no comments): the follow-up, never a lost
    // mail nor a held project. Refused in the whole project: rethrown for its breaker.
    if (e instanceof PermissionError && e.permission === 'ADD_COMMENTS') {
      const diverted = await refusedComment(d, issueKey, e, hops);
      if (diverted) return followed(d, issueKey, diverted, hops);
    }
    // The issue holds Jira's per-issue limit of comments (413): it takes no more, ever.
    if (e instanceof IssueLimitError) {
      d.ctx.log.warn({ issueKey, reason: e.message }, 'the issue holds Jira\'s per-issue limit of comments: delivering the reply to the follow-up');
      return followed(d, issueKey, await divertReply(d, issueKey, hops, e.message, 'it holds Jira\'s per-issue limit of comments (5,000)'), hops);
    }
    if (!(e instanceof NotFoundError)) throw e;
    await establishGone(d, issueKey, 'a comment');
    return undefined;
  }
  // Ledger first (the fast guard), then the property (the one that survives Redis).
  const t = await d.remember({ kind: 'comment', issueKey, commentId: c.id, adopted: false });
  await d.client.setIssueProperty(issueKey, COMMENTS_PROPERTY, { ids: [...seen, d.mk].slice(-COMMENT_IDS_KEPT) });
  return t;
}

/** Not a comment on issueKey: a new issue ('new-issue'), or a comment on the follow-up an earlier reply made. */
async function followed(d: Delivery, issueKey: string, rule: 'new-issue' | { followUp: string }, hops: number): Promise<Target | undefined> {
  if (rule === 'new-issue') return undefined;
  const joined = await commentOn(d, rule.followUp, hops + 1);
  if (joined || d.state.followUp) return joined;
  // The follow-up an earlier reply made is gone (deleted, or the token cannot see it): this
  // reply makes a new one, labelled and linked, and later replies join that (not a plain issue each).
  await newFollowUp(d, issueKey, `its follow-up ${rule.followUp} no longer exists`);
  return undefined;
}

/**
 * The mails already added to issueKey as comments, and the issue's status (is it resolved?), in
 * one GET (getIssue with `properties`); undefined when the issue is gone.
 */
async function commentedMails(d: Delivery, issueKey: string): Promise<{ seen: string[]; fields: Record<string, unknown> } | undefined> {
  let seen: { ids?: string[] } | undefined;
  let fields: Record<string, unknown>;
  try {
    const issue = await d.client.getIssue(issueKey, RESOLVED_FIELDS, { properties: [COMMENTS_PROPERTY] });
    seen = issue.properties?.[COMMENTS_PROPERTY] as { ids?: string[] } | undefined;
    fields = issue.fields;
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
    await establishGone(d, issueKey, 'reading its comment record');
    return undefined;
  }
  return { seen: Array.isArray(seen?.ids) ? seen.ids : [], fields };
}
