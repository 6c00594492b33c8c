// A reply becomes a comment on the issue it joins, once: the issue's COMMENTS_PROPERTY lists the
// mails already added there, so a re-run after a Redis loss does not comment twice. The list is
// read, then written: replies to one issue take turns (an issue lock in Redis), or two at once
// would each write the list they read and one record would be lost. The same read tells whether
// the issue is resolved: then the mailbox's rule decides (resolved.ts).
import { NotFoundError } from '../core/errors.js';
import type { AdfDoc } from '../jira/types.js';
import { textToAdf } from './adf.js';
import type { Delivery, Target } from './delivery.js';
import { COMMENTS_PROPERTY } from './properties.js';
import { establishGone } from './gone.js';
import { applyResolvedRule, RESOLVED_FIELDS } from './resolved.js';
import { commentPreface } from './route.js';
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
  if (rule === 'new-issue') return undefined;
  if (rule !== 'comment') return commentOn(d, rule.followUp, hops + 1);
  const { text } = await d.mail();
  const body: AdfDoc = textToAdf(text, { stripQuotedHistory: d.route.stripQuotedHistory, preface: [suspectLine(d.record.classification), commentPreface(d.record)].filter((x) => x !== undefined), notes: await d.oversizeNotes() });
  let c: { id: string };
  try {
    c = await d.client.addComment(issueKey, body);
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
    await establishGone(d, issueKey, 'a comment');
    return undefined;
  }
  // Ledger first (the fast guard), then the property (the one that survives Redis).
  const t = await d.remember({ kind: 'comment', issueKey, commentId: c.id, adopted: false });
  await d.client.setIssueProperty(issueKey, COMMENTS_PROPERTY, { ids: [...seen, d.mk].slice(-COMMENT_IDS_KEPT) });
  return t;
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
