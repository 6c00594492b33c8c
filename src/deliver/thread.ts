// Which issue a reply joins: the one its thread was delivered to (ledger) or the one its subject
// names, if the reply may join it (reply-trust.ts); and a reply whose thread's first mail is
// still on its way parks until that mail is delivered.
import { NotFoundError } from '../core/errors.js';
import { threadIds } from '../mail/id.js';
import { verdictOf } from '../mail/sender-trust.js';
import { tell, waitingProgress } from '../queues/story.js';
import type { Delivery } from './delivery.js';
import { establishGone } from './gone.js';
import { decideReply, needsPeople, type ReplyFacts } from './reply-trust.js';
import { issueKeysIn, routeProject } from './route.js';
import { DEFAULT_MAX_ISSUE_KEY_LOOKUPS } from '../config/schema.js';
import { projectOfIssueKey } from '../jira/issue-key.js';

// A reply waits this long at most for its thread's first mail (which may be waiting for its
// sender's account to be made), re-checking every THREAD_RECHECK_MS.
export const THREAD_WAIT_MS = 10 * 60_000;
export const THREAD_RECHECK_MS = 1_000;

const AUTH_OF = { pass: 'verified', fail: 'failed', none: 'unverified' } as const;

export type Claim = { issueKey: string; source: 'subject' } | { issueKey: string; source: 'thread'; recordedBy: string; mailedTo?: string };

/** The issue this mail answers and may join, or undefined: it becomes a new issue. */
export async function threadParent(d: Delivery): Promise<Claim | undefined> {
  const claim = await findParent(d);
  if (!claim) await waitForThreadStart(d);
  const parent = claim && (await mayJoin(d, claim)) ? claim : undefined;
  if (d.state.threadWaitSince !== undefined) await d.ctx.job.updateProgress(0); // waiting is over
  return parent;
}

/** The issue this mail answers: by thread (ledger), then by an issue key in the subject. */
async function findParent(d: Delivery): Promise<Claim | undefined> {
  const thread = await d.ledger.findThread(threadIds(d.record).filter((id) => id !== d.mk));
  if (thread) return { issueKey: thread.issueKey, source: 'thread', recordedBy: thread.mailboxId, ...(thread.respondedTo ? { mailedTo: thread.respondedTo } : {}) };
  const project = routeProject(d.route);
  // One Jira call per key: a subject naming hundreds is looked up only this far (the new issue names the rest).
  for (const k of issueKeysIn(d.record.subject, project).slice(0, d.route.maxIssueKeyLookups ?? DEFAULT_MAX_ISSUE_KEY_LOOKUPS)) {
    try {
      const issue = await d.client.getIssue(k, ['project']);
      const key = (issue.fields.project as { key?: string } | undefined)?.key;
      if (!key || key === project) return { issueKey: issue.key || k, source: 'subject' };
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }
  return undefined;
}

/**
 * A reply whose thread's first mail is still on its way (e.g. both arrived together, and the
 * first waits for its sender's account) waits for it, so it becomes a comment on that issue
 * rather than an issue of its own. Bounded: after THREAD_WAIT_MS it is delivered as new.
 */
async function waitForThreadStart(d: Delivery): Promise<void> {
  const { job, log } = d.ctx;
  const pending = await d.ledger.pendingOf(threadIds(d.record).filter((id) => id !== d.mk));
  if (!pending.length) return;
  const firstWait = d.state.threadWaitSince === undefined;
  const since = d.state.threadWaitSince ?? Date.now();
  if (Date.now() - since > THREAD_WAIT_MS) {
    log.warn({ pending }, 'the mail this one answers is still not delivered: delivering this one as new');
    return;
  }
  d.state.threadWaitSince = since;
  await d.save();
  log.info({ pending }, 'waiting for the mail this one answers to be delivered first');
  const recheckAt = Date.now() + THREAD_RECHECK_MS;
  // On the board: a reply waiting for its thread's first mail, told apart from a retry backoff.
  await job.updateProgress(waitingProgress('the mail this one answers, to be delivered first (then this becomes a comment)', recheckAt, new Date(since)));
  if (firstWait) await tell(job, 'waiting for the mail this one answers to be delivered first: not a retry, no attempt spent');
  await d.ctx.park(recheckAt, 'waiting for the mail this one answers');
}

/**
 * Whether this reply may become a comment on the issue it names (src/deliver/reply-trust.ts):
 * a trusted link and an allowed sender. If not, the new issue names the one it claimed.
 */
async function mayJoin(d: Delivery, claim: Claim): Promise<boolean> {
  const { data, record, mailbox } = d;
  const sender = data.people?.find((x) => x.role === 'sender');
  const facts: ReplyFacts = {
    policy: mailbox.policy,
    mailboxId: data.mailboxId,
    project: routeProject(d.route),
    link:
      claim.source === 'thread'
        ? { source: 'thread', issueKey: claim.issueKey, recordedBy: claim.recordedBy, ...(claim.mailedTo ? { mailedTo: claim.mailedTo } : {}) }
        : { source: 'subject', issueKey: claim.issueKey },
    issueProject: projectOfIssueKey(claim.issueKey),
    sender: {
      ...(record.from ? { email: record.from.address } : {}),
      ...(sender?.accountId ? { accountId: sender.accountId } : {}),
      auth: AUTH_OF[verdictOf(record, mailbox).result],
    },
  };
  if (needsPeople(facts)) facts.people = await issuePeople(d, claim.issueKey);
  const v = decideReply(facts);
  if (v.join) return true;
  d.state.claimed = { issueKey: claim.issueKey, why: v.why };
  d.ctx.log.warn({ claimed: claim.issueKey, why: v.why }, 'reply may not join the issue it names: delivering it as a new issue');
  await d.deps.audit?.record({ mail: d.auditId, mailboxId: data.mailboxId, email: record.from?.address, step: 'reply-refused', outcome: 'new-issue', jira: claim.issueKey, detail: v.why });
  return false;
}

async function issuePeople(d: Delivery, issueKey: string): Promise<NonNullable<ReplyFacts['people']>> {
  try {
    const issue = await d.client.getIssue(issueKey, ['reporter']);
    const reporter = (issue.fields.reporter as { accountId?: string } | undefined)?.accountId;
    const watchers = await d.client.getWatchers(issueKey);
    // Only requests have participants; a platform issue answers 404 here.
    const participants = await d.client.getRequestParticipants(issueKey).catch((e: unknown) => {
      if (e instanceof NotFoundError) return [];
      throw e;
    });
    return { ...(reporter ? { reporter } : {}), watchers, participants };
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
    // Gone (established, gone.ts): nobody's reply joins it. Maybe hidden: fail, make nothing.
    await establishGone(d, issueKey, 'reading its people');
    return { watchers: [], participants: [] };
  }
}
