// A reply to a resolved issue follows the mailbox's rule (deliver.resolvedReply,
// docs/customer-replies.md#replies-to-resolved-issues). "Resolved" is Jira's own word for it:
// the issue's status is in the done category (getIssue, fields.status.statusCategory.key ===
// 'done'; StatusCategory.key in the platform v3 spec), read by the GET the reply path makes
// anyway (comment.ts reads its comment record with it): no Jira call is added for a reply to an
// open issue, whatever the rule.
//
// - comment: the reply is a comment, the issue stays resolved (agents see it in its activity).
// - reopen: the comment, then a transition out of done. No usable transition, or Jira refuses it:
//   the comment stays, the audit trail says why. A reply more than resolvedReplyWindow after the
//   resolution (fields.resolutiondate) becomes a new issue instead.
// - new-issue: a new issue (the new-mail path: its create marks, recovery look and ledger),
//   labelled mailroom-followup, linked "relates to" the resolved one.
// What is due is kept in the job's data before it is done, so a retry finishes it.
import { ms } from '../config/duration.js';
import { DEFAULT_RESOLVED_REPLY_WINDOW } from '../config/schema.js';
import { NotFoundError, PermanentError } from '../core/errors.js';
import type { PermissionError } from '../jira/errors.js';
import { projectOfIssueKey } from '../jira/issue-key.js';
import type { IssueTransition } from '../jira/types.js';
import { tell } from '../queues/story.js';
import { PENDING_FOLLOW_UP } from '../ledger/ledger.js';
import type { Delivery, Target } from './delivery.js';

/** The fields the reply path reads to tell a resolved issue. */
export const RESOLVED_FIELDS = ['status', 'resolutiondate'];
/** The label of an issue made from a reply to a resolved one. */
export const FOLLOWUP_LABEL = 'mailroom-followup';
/** The link from the new issue to the resolved one (a link type every Jira Cloud site has). */
export const FOLLOWUP_LINK_TYPE = 'Relates';

export type ResolvedReplyMode = 'comment' | 'reopen' | 'new-issue';

export interface ResolvedFacts {
  mode: ResolvedReplyMode;
  windowMs: number;
  /** fields.status.statusCategory.key; undefined when Jira did not say. */
  category?: string;
  /** fields.resolutiondate (ISO), when set. */
  resolutionDate?: string;
  now: number;
}

export type ResolvedDecision = { action: 'comment'; resolved: boolean } | { action: 'reopen' } | { action: 'new-issue'; why: string };

/** What a reply to an issue in this state becomes. Pure. */
export function decideResolvedReply(f: ResolvedFacts): ResolvedDecision {
  // Open, or a status Jira did not describe: a comment, as always (nothing is lost).
  if (f.category !== 'done') return { action: 'comment', resolved: false };
  if (f.mode === 'comment') return { action: 'comment', resolved: true };
  if (f.mode === 'new-issue') return { action: 'new-issue', why: 'it is resolved (deliver.resolvedReply: new-issue)' };
  const at = Date.parse(f.resolutionDate ?? '');
  // A done status without a resolution date (a workflow that sets no resolution): reopen; nothing says it is old.
  if (Number.isNaN(at) || f.now - at <= f.windowMs) return { action: 'reopen' };
  const days = Math.floor((f.now - at) / 86_400_000);
  return { action: 'new-issue', why: `it was resolved ${days} days ago (${f.resolutionDate}), longer ago than deliver.resolvedReplyWindow` };
}

/** The status facts in a getIssue answer's fields. */
export function statusFacts(fields: Record<string, unknown>): Pick<ResolvedFacts, 'category' | 'resolutionDate'> {
  const status = fields.status as { statusCategory?: { key?: unknown } } | undefined;
  const key = status?.statusCategory?.key;
  const date = fields.resolutiondate;
  return { ...(typeof key === 'string' ? { category: key } : {}), ...(typeof date === 'string' ? { resolutionDate: date } : {}) };
}

// Names of transitions that take an issue back to work, most wanted first.
const REOPEN_NAMES = [/\bre-?open/i, /\bback to in progress\b/i, /\bin progress\b/i, /\bto do\b/i];

/**
 * The transition that reopens: the configured one (by id, or name case-insensitively) when it is
 * offered from the issue's status and leads out of done; else the first offered out of done whose
 * name matches Reopen, Back to In Progress, In Progress, To Do (in that order), else any out of done.
 */
export function pickTransition(offered: IssueTransition[], wanted?: string): IssueTransition | { why: string } {
  const out = offered.filter((t) => t.toCategory !== 'done' && t.toCategory !== '');
  if (wanted) {
    const w = wanted.trim().toLowerCase();
    const t = offered.find((x) => x.id === wanted.trim() || x.name.toLowerCase() === w);
    if (!t) return { why: `the transition "${wanted}" (deliver.reopenTransition) is not offered from the issue's status; offered: ${names(offered)}` };
    if (!out.includes(t)) return { why: `the transition "${wanted}" (deliver.reopenTransition) leads to a done status` };
    return t;
  }
  for (const re of REOPEN_NAMES) {
    const t = out.find((x) => re.test(x.name));
    if (t) return t;
  }
  return out[0] ?? { why: `no transition out of done is offered from the issue's status; offered: ${names(offered)}` };
}

function names(ts: IssueTransition[]): string {
  return ts.length ? ts.map((t) => `"${t.name}" (${t.id})`).join(', ') : 'none';
}

/** How many follow-ups a reply is passed along at most (SUP-1 resolved -> SUP-2 resolved -> SUP-3). */
export const MAX_FOLLOW_HOPS = 3;
/** How long a claim to make a resolved issue's follow-up holds if its job dies before making it. */
const FOLLOW_UP_CLAIM_S = 600;
/** How soon a reply waiting for another reply's follow-up looks again. */
const FOLLOW_UP_WAIT_MS = 5_000;

/**
 * Applies the mailbox's rule to a reply about to become a comment on issueKey (fields from the
 * reply path's GET). 'comment': carry on (a reopen, if due, is noted first). 'new-issue': do not
 * comment; the mail becomes a new issue. `{ followUp }`: an earlier reply to this resolved issue
 * made that issue; this reply joins it (the same conversation), by the same rule there.
 */
export async function applyResolvedRule(d: Delivery, issueKey: string, fields: Record<string, unknown>, hops = 0): Promise<'comment' | 'new-issue' | { followUp: string }> {
  const r = d.route;
  const decision = decideResolvedReply({
    mode: r.resolvedReply ?? 'comment',
    windowMs: ms(r.resolvedReplyWindow ?? DEFAULT_RESOLVED_REPLY_WINDOW),
    ...statusFacts(fields),
    now: Date.now(),
  });
  if (decision.action === 'comment') {
    // A reopen noted by an earlier attempt whose comment failed: the issue is open again (an
    // agent reopened it) or the rule changed since. Moving it now would move an open issue.
    if (d.state.reopen && !d.state.reopen.done) {
      delete d.state.reopen;
      await d.save();
    }
    if (decision.resolved) d.deps.metrics?.resolvedReplies.inc({ outcome: 'comment' });
    if (decision.resolved) d.ctx.log.info({ issueKey }, 'reply to a resolved issue: a comment, the issue stays resolved (deliver.resolvedReply: comment)');
    return 'comment';
  }
  if (decision.action === 'reopen') {
    // Noted before the comment: a retry after it (the ledger answers) still reopens.
    d.state.reopen = { issueKey };
    await d.save();
    return 'comment';
  }
  const next = hops < MAX_FOLLOW_HOPS ? await followUpFor(d, issueKey) : undefined;
  if (next && next !== issueKey) {
    d.ctx.log.info({ issueKey, followUp: next }, 'reply to a resolved issue that was followed up: adding it to the follow-up');
    await audit(d, 'followed', next, `${issueKey} is resolved (${decision.why}); an earlier reply to it made ${next}: added there`);
    return { followUp: next };
  }
  return newFollowUp(d, issueKey, decision.why);
}

/**
 * Jira refused this reply as a comment on issueKey (a PermissionError for ADD_COMMENTS: Jira
 * answers 400 "…you do not have the permission to comment on this issue.", or 403). When the
 * project grants Add comments, the refusal is this issue's own: its status locks comments
 * (workflow property jira.permission.comment.denied, typically on Closed) or something else on
 * the issue does. The mail must be neither lost nor the project held for it, so it joins the issue
 * an earlier reply to this one became, or becomes that follow-up (a new issue, labelled, linked),
 * as under resolvedReply: new-issue. Undefined when the project itself lacks Add comments: the
 * caller rethrows, and the project's breaker counts it (docs/jira-permissions.md).
 */
export async function refusedComment(d: Delivery, issueKey: string, e: PermissionError, hops: number): Promise<'new-issue' | { followUp: string } | undefined> {
  const projectKey = projectOfIssueKey(issueKey);
  if (!projectKey) return undefined;
  const inProject = await d.client.myPermissions([e.permission], { projectKey }).then(
    (held) => held[e.permission] === true,
    (err: unknown) => {
      // An unknown project is the project's problem, not this issue's.
      if (err instanceof NotFoundError) return false;
      throw err;
    },
  );
  if (!inProject) return undefined;
  d.ctx.log.warn({ issueKey, reason: e.message }, 'Jira refused the reply as a comment on this issue (its project grants Add comments): delivering it to the follow-up');
  const detail = `Jira refused the comment on ${issueKey} although project ${projectKey} grants ${e.permission} (the issue's status, e.g. a workflow property jira.permission.comment.denied, locks comments): ${e.message}`;
  return divertReply(d, issueKey, hops, detail, 'Jira refused it as a comment there (the issue\'s status takes no comments)');
}

/**
 * This reply cannot be a comment on issueKey (its status locks comments, or it holds Jira's
 * per-issue limit of comments: IssueLimitError): it joins the follow-up an earlier reply made,
 * or becomes it.
 */
export async function divertReply(d: Delivery, issueKey: string, hops: number, detail: string, why: string): Promise<'new-issue' | { followUp: string }> {
  // A reopen noted before the comment has nothing to follow now: the mail becomes another issue.
  if (d.state.reopen && !d.state.reopen.done) {
    delete d.state.reopen;
    await d.save();
  }
  await audit(d, 'comment-refused', issueKey, detail);
  const next = hops < MAX_FOLLOW_HOPS ? await followUpFor(d, issueKey) : undefined;
  if (next && next !== issueKey) {
    await audit(d, 'followed', next, `${issueKey} takes no comments; an earlier reply to it made ${next}: added there`);
    return { followUp: next };
  }
  return newFollowUp(d, issueKey, why);
}

/** This reply becomes the follow-up of the resolved issueKey: a new issue, labelled and linked once made. */
export async function newFollowUp(d: Delivery, issueKey: string, why: string): Promise<'new-issue'> {
  d.state.followUp = { of: issueKey, why };
  await d.save();
  d.deps.metrics?.resolvedReplies.inc({ outcome: 'new-issue' });
  d.ctx.log.info({ issueKey, why }, 'reply to a resolved issue: delivering it as a new issue linked to it');
  await audit(d, 'new-issue', issueKey, `not added to ${issueKey}: ${why}`);
  return 'new-issue';
}

/**
 * The issue an earlier reply to this resolved issue made, if any; else this job claims the
 * making of it (undefined). Another reply making it right now: this one waits for it (parks),
 * then joins it, so two replies at once make one follow-up.
 */
async function followUpFor(d: Delivery, issueKey: string): Promise<string | undefined> {
  const held = await d.ledger.claimFollowUp(issueKey, d.jobId, FOLLOW_UP_CLAIM_S);
  if (held === `${PENDING_FOLLOW_UP}${d.jobId}`) return undefined;
  if (!held.startsWith(PENDING_FOLLOW_UP)) return held;
  d.ctx.log.info({ issueKey }, 'another reply to this resolved issue is making its follow-up: waiting to join it');
  return d.ctx.park(Date.now() + FOLLOW_UP_WAIT_MS, `another reply is making the follow-up of ${issueKey}`);
}

/** After the mail is placed: the reopen or the link its rule made due (once; a retry resumes here). */
export async function finishResolvedReply(d: Delivery, target: Target): Promise<void> {
  if (d.state.reopen && !d.state.reopen.done && target.kind === 'comment') await reopen(d, d.state.reopen.issueKey);
  if (d.state.followUp && !d.state.followUp.linked && target.kind !== 'comment') {
    // Later replies to the resolved issue's thread join the new one (the ledger maps this mail to it already).
    await d.ledger.setFollowUp(d.state.followUp.of, target.issueKey);
    await link(d, d.state.followUp.of, target.issueKey);
  }
}

async function reopen(d: Delivery, issueKey: string): Promise<void> {
  let outcome: 'reopened' | 'not-reopened';
  let detail: string;
  try {
    const pick = pickTransition(await d.client.getTransitions(issueKey), d.route.reopenTransition);
    if ('why' in pick) {
      outcome = 'not-reopened';
      detail = pick.why;
    } else {
      await d.client.transitionIssue(issueKey, pick.id);
      outcome = 'reopened';
      detail = `transition "${pick.name}" (${pick.id})`;
    }
  } catch (e) {
    // A refusal (no Transition issues permission, a transition no longer valid): the comment is
    // made and stays. Anything else (Jira down, rate limit, token) retries this step.
    if (!(e instanceof PermanentError)) throw e;
    outcome = 'not-reopened';
    detail = `Jira refused the transition: ${e.message}`;
  }
  d.state.reopen = { issueKey, done: true, outcome };
  await d.save();
  d.deps.metrics?.resolvedReplies.inc({ outcome });
  if (outcome === 'reopened') d.ctx.log.info({ issueKey, detail }, 'reply to a resolved issue: commented and reopened it');
  else d.ctx.log.warn({ issueKey, detail }, 'reply to a resolved issue: commented, but could not reopen it (the comment stays)');
  await tell(d.ctx.job, outcome === 'reopened' ? `reopened ${issueKey} (${detail})` : `commented on ${issueKey}, left resolved: ${detail}`);
  await audit(d, outcome, issueKey, detail);
}

async function link(d: Delivery, resolvedKey: string, newKey: string): Promise<void> {
  let outcome: 'linked' | 'not-linked' = 'linked';
  let detail = `${newKey} relates to ${resolvedKey}`;
  try {
    await d.client.linkIssues(newKey, FOLLOWUP_LINK_TYPE, resolvedKey);
  } catch (e) {
    // No Link issues permission (Jira answers 404, or 403), linking turned off, no Relates type:
    // the new issue stands without the link; its description names the resolved issue.
    if (!(e instanceof PermanentError)) throw e;
    outcome = 'not-linked';
    detail = `${newKey} not linked to ${resolvedKey} (its description names it): ${e.message}`;
  }
  d.state.followUp = { ...d.state.followUp!, linked: true, ...(outcome === 'not-linked' ? { linkRefused: detail } : {}) };
  await d.save();
  if (outcome === 'not-linked') d.ctx.log.warn({ issueKey: newKey, resolvedKey, detail }, 'could not link the follow-up issue to the resolved one');
  await tell(d.ctx.job, detail);
  await audit(d, outcome, newKey, detail);
}

async function audit(d: Delivery, outcome: string, issueKey: string, detail: string): Promise<void> {
  await d.deps.audit?.record({ mail: d.auditId, mailboxId: d.data.mailboxId, email: d.record.from?.address, step: 'resolved-reply', outcome, jira: issueKey, detail });
}

/** The line a follow-up issue's description opens with. */
export function followUpLine(f: { of: string; why: string }): string {
  return `This mail answers ${f.of}, which was not reopened for it: ${f.why}. This issue follows it up (label ${FOLLOWUP_LABEL}).`;
}
