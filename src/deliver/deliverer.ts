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
import { DelayedError, type Queue } from 'bullmq';
import { tell, waitingProgress } from '../queues/story.js';
import type { z } from 'zod';
import type { MailboxConfig, RetryConfig } from '../config/schema.js';
import { NotFoundError, PermanentError, RetryableError } from '../core/errors.js';
import type { JiraClient } from '../jira/client.js';
import type { AdfDoc } from '../jira/types.js';
import type { MailStore } from '../mail/store.js';
import type { AuditTrail } from '../queues/audit.js';
import { jiraDeliver, mailboxActions, mailInbound } from '../queues/catalog.js';
import { addJob } from '../queues/queue.js';
import type { Processor, ProcessorContext } from '../queues/worker.js';
import type { Redis } from '../core/redis.js';
import { senderVerdict } from '../mail/auth-results.js';
import { adfToText, textToAdf } from './adf.js';
import { cutNote, loadContent, type MailContent } from './content.js';
import { mailKey, threadIds } from '../mail/id.js';
import { createLedger, type LedgerEntry } from '../mail/ledger.js';
import { decideReply, needsPeople, type ReplyFacts } from './reply-trust.js';
import {
  commentPreface,
  formatBytes,
  isRequestRoute,
  issueKeysIn,
  peopleOf,
  routeProject,
  senderLabel,
  summaryOf,
  type DeliverRoute,
} from './route.js';

export type DeliverJob = z.infer<typeof jiraDeliver.payload>;

/** The part of the Jira client delivery uses. */
export type DeliverClient = Pick<
  JiraClient,
  'createIssue' | 'getIssue' | 'addComment' | 'addAttachment' | 'setIssueProperty' | 'getIssueProperty' | 'searchJql' | 'createRequest'
  | 'getWatchers' | 'getRequestParticipants'
>;

/** Issue property holding the Message-ID of the mail an issue was made from. */
export const MESSAGE_PROPERTY = 'mailroom.message';
/** Issue property listing the Message-IDs of mails added to an issue as comments. */
export const COMMENTS_PROPERTY = 'mailroom.comments';
/** Comment ids kept in COMMENTS_PROPERTY: well under Jira's 32 KB property limit. */
const COMMENT_IDS_KEPT = 200;
/** Where delivery progress is kept in the job's data (beside the payload). */
export const STATE_FIELD = 'deliver';

export interface DelivererDeps {
  redis: Redis;
  prefix: string;
  mailbox(id: string): MailboxConfig | undefined;
  store: MailStore;
  /** The client to use now (on the stored token, behind the Retry-After gate). */
  jira(): Promise<DeliverClient>;
  /** Where 'delivered' mailbox actions go (IMAP mail only). */
  mailboxActions?: Queue;
  retry?: Partial<Record<string, RetryConfig>>;
  /**
   * How long one job holds a mail while checking and creating. Longer than a Jira call's
   * timeout (15 s default), so a live holder never loses it; a dead one frees it this soon.
   */
  lockMs?: number;
  /** The pipeline's audit trail: `mailroom audit <message-id>` then shows where the mail went. */
  audit?: AuditTrail;
  /**
   * How long after a create whose answer was lost the recovery search waits (RECOVERY_SETTLE_MS):
   * Jira's search index lags its writes. Tests against the simulator (no lag) shorten it.
   */
  recoverySettleMs?: number;
  /**
   * Parses a raw mail into its text and attachments; the role passes a content pool's, so the
   * CPU work runs off the event loop that renews job locks. Default: on this thread.
   */
  parseContent?: (raw: Buffer) => Promise<MailContent>;
}

export const DEFAULT_LOCK_MS = 30_000;
// A reply waits this long at most for its thread's first mail (which may be waiting for its
// sender's account to be made), re-checking every THREAD_RECHECK_MS.
export const THREAD_WAIT_MS = 10 * 60_000;
export const THREAD_RECHECK_MS = 1_000;
// Jira's search "might not immediately" show a new issue (search/jql docs; read-after-write
// needs reconcileIssues, which takes ids we do not have): a recovery search waits this long
// after the create it looks for was sent, so the index has caught up.
export const RECOVERY_SETTLE_MS = 10_000;
// The recovery JQL's created window starts this much before the earliest moment the issue
// could have been made: covers clock differences between this host, Jira and the IMAP server.
const RECOVERY_MARGIN_MS = 15 * 60_000;
// At most this many candidates are read back; a window holding more issues by one reporter than
// this is refused (permanent) rather than risking a second issue.
const RECOVERY_MAX = 500;
// INTERNALDATE has whole seconds: a mail is "older than the ledger" only when more than this
// before its birth (else every mail of the ledger's first second would be looked up).
const BORN_SLACK_MS = 2_000;

type Claim = { issueKey: string; source: 'subject' } | { issueKey: string; source: 'thread'; recordedBy: string };

interface Target {
  kind: 'issue' | 'request' | 'comment';
  issueKey: string;
  issueId?: string;
  commentId?: string;
  /** Delivered by another job (or before Redis was lost): its attachments are not ours to upload. */
  adopted: boolean;
}

interface DeliverState {
  v: 1;
  target?: Target;
  /** Attachment indexes uploaded (or given up on for good, see failed). */
  uploaded: number[];
  /** "name (size): why" for attachments Jira refused; reported in one comment. */
  failed: string[];
  failureNoted?: boolean;
  finished?: boolean;
  /**
   * When this job first sent a create (ISO), written before the request leaves: a re-run that
   * finds it (and no ledger entry) looks for what that create may have made.
   */
  createSent?: string;
  /** Older name of createSent (JSM only), read from jobs written before the rename. */
  requestSent?: string;
  /** The issue's mailroom.message property already says complete (set in the create: no attachments to upload). */
  propertyComplete?: boolean;
  /** When this reply started waiting for its thread's first mail to be delivered (epoch ms). */
  threadWaitSince?: number;
  /** The issue this mail claimed to answer but may not join, and why: named in the new issue. */
  claimed?: { issueKey: string; why: string };
}

export type DeliverResult =
  | { outcome: 'classified'; kind: string }
  | { outcome: 'delivered' | 'duplicate'; kind: Target['kind']; issueKey: string; commentId?: string; uploaded: number; oversize: number; failed: number };

function readState(data: unknown): DeliverState | undefined {
  const s = (data as Record<string, unknown> | undefined)?.[STATE_FIELD] as DeliverState | undefined;
  return s && s.v === 1 && Array.isArray(s.uploaded) ? s : undefined;
}

async function saveState(ctx: ProcessorContext, state: DeliverState): Promise<void> {
  await ctx.job.updateData({ ...(ctx.job.data as Record<string, unknown>), [STATE_FIELD]: state });
}

function jqlString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function createDeliverer(deps: DelivererDeps): Processor<DeliverJob> {
  const ledger = createLedger(deps.redis, deps.prefix);
  const lockMs = deps.lockMs ?? DEFAULT_LOCK_MS;
  // Stamp the ledger's birth as the deliverer starts, not at its first job: mails that arrive
  // while it starts up are then known to be newer than the ledger (no recovery search for them).
  ledger.bornAt().catch(() => undefined);

  return async (data, ctx) => {
    const { job, log } = ctx;
    const jobId = String(job.id);
    const mailbox = deps.mailbox(data.mailboxId);
    if (!mailbox) throw new PermanentError(`mail for mailbox "${data.mailboxId}", which is not in the configuration`);
    const maybeRoute = mailbox.deliver;
    if (!maybeRoute) throw new PermanentError(`mailbox "${data.mailboxId}" has no deliver section: say which project (or service desk) its mail goes to`);
    const route: DeliverRoute = maybeRoute;
    const record = data.record;
    if (record.classification.kind !== 'human') {
      // The resolver never hands classified mail on, and it alone asks for its mailbox action;
      // a job like this was added by hand: deliver nothing, act on nothing.
      log.warn({ kind: record.classification.kind }, 'classified mail in jira-deliver: not delivered');
      return { outcome: 'classified', kind: record.classification.kind } satisfies DeliverResult;
    }
    // The mail's identity: its Message-ID, unless another mail with other content holds that id
    // already (mailers reuse ids; attackers copy them): then the id and the content hash.
    const auditId = mailKey(record);
    const mk = await identityOf(auditId);
    const state: DeliverState = readState(job.data) ?? { v: 1, uploaded: [], failed: [] };
    const client = await deps.jira();
    let content: MailContent | undefined;
    const mail = async () => (content ??= await loadContent(deps.store, record, deps.parseContent));
    const limit = route.maxAttachmentBytes;
    const oversizeNotes = async () => {
      const m = await mail();
      return [
        ...(m.cut ? [cutNote(m.cut, record.rawRef.sha256)] : []),
        ...m.attachments
          .filter((a) => a.size > limit)
          .map((a) => `Attachment not uploaded: ${a.filename} (${formatBytes(a.size)}) is larger than the ${formatBytes(limit)} limit. The whole mail is kept in Mailroom's store (sha256 ${record.rawRef.sha256}).`),
      ];
    };

    // 1. Where the mail goes: an issue or request made now, or found made already; or a comment.
    if (!state.target) {
      const release = await ledger.lock(mk, lockMs);
      try {
        state.target = await place();
      } finally {
        await release();
      }
      await saveState(ctx, state);
      const t = state.target;
      await tell(
        job,
        t.adopted
          ? `found ${t.issueKey}, made from this mail before: nothing created`
          : t.kind === 'comment'
            ? `commented on ${t.issueKey}${t.commentId ? ` (comment ${t.commentId})` : ''}`
            : `created ${t.kind === 'request' ? 'request' : 'issue'} ${t.issueKey}`,
      );
    }
    const target = state.target;

    // 2. Attachments, one step each, from the raw mail in the store.
    let oversize = 0;
    if (!target.adopted && !state.finished) {
      const { attachments } = await mail();
      for (const a of attachments) {
        if (a.size > limit) {
          oversize++;
          continue;
        }
        if (state.uploaded.includes(a.index)) continue;
        try {
          await client.addAttachment(target.issueKey, a.filename, a.content, a.contentType);
        } catch (e) {
          if (!(e instanceof PermanentError)) throw e;
          // Jira refused this file for good (its own size limit, a blocked type): say so, go on.
          state.failed.push(`${a.filename} (${formatBytes(a.size)}): ${e.message}`);
        }
        state.uploaded.push(a.index);
        await saveState(ctx, state);
      }
      if (state.failed.length && !state.failureNoted) {
        await client.addComment(target.issueKey, textToAdf(['Mailroom could not upload these attachments of the mail:', ...state.failed].join('\n')));
        state.failureNoted = true;
        await saveState(ctx, state);
      }
      if (target.kind !== 'comment' && !state.propertyComplete) {
        // Marks the issue complete, so a job that finds it after a Redis loss knows its
        // attachments are there. A mail with nothing to upload was complete at creation.
        await client.setIssueProperty(target.issueKey, MESSAGE_PROPERTY, propertyValue(true));
      }
      state.finished = true;
      await saveState(ctx, state);
    }

    // 3. The poller moves or flags the mail (idempotent by job id).
    if (data.origin.kind === 'imap' && deps.mailboxActions) {
      await addJob(deps.mailboxActions, mailboxActions, {
        mailboxId: data.mailboxId,
        uidvalidity: data.origin.uidvalidity,
        uid: data.origin.uid,
        outcome: 'delivered',
      }, deps.retry);
    }
    const result: DeliverResult = {
      outcome: target.adopted ? 'duplicate' : 'delivered',
      kind: target.kind,
      issueKey: target.issueKey,
      ...(target.commentId ? { commentId: target.commentId } : {}),
      uploaded: state.uploaded.length - state.failed.length,
      oversize,
      failed: state.failed.length,
    };
    log.info(result, target.adopted ? 'mail was delivered already: nothing created' : 'mail delivered');
    await tell(
      job,
      `done: ${target.issueKey}; ${result.uploaded} attachment(s) uploaded${oversize ? `, ${oversize} over the size limit` : ''}${state.failed.length ? `, ${state.failed.length} refused by Jira` : ''}`,
    );
    await deps.audit?.record({
      // The resolver keeps a mail without Message-ID under its inbound job id: the same trail.
      mail: record.messageId ? auditId : mailInbound.jobId({ ...data, receivedAt: '' }),
      mailboxId: data.mailboxId,
      email: record.from?.address,
      step: 'delivered',
      outcome: target.adopted ? 'duplicate' : 'ok',
      jira: `${target.kind} ${target.issueKey}${target.commentId ? ` comment ${target.commentId}` : ''}`,
      detail: `${result.uploaded} attachments uploaded${oversize ? `, ${oversize} over the size limit` : ''}${state.failed.length ? `, ${state.failed.length} refused by Jira` : ''}`,
    });
    return result;

    async function identityOf(base: string): Promise<string> {
      if (!record.messageId) return base;
      const first = await ledger.get(base);
      return first?.sha256 && first.sha256 !== record.rawRef.sha256 ? `${base}#sha256:${record.rawRef.sha256}` : base;
    }

    function propertyValue(complete: boolean) {
      return { id: mk, mailboxId: data.mailboxId, sha256: record.rawRef.sha256, complete };
    }

    function fromLedger(e: LedgerEntry): Target {
      return {
        kind: e.kind,
        issueKey: e.issueKey,
        ...(e.issueId ? { issueId: e.issueId } : {}),
        ...(e.commentId ? { commentId: e.commentId } : {}),
        // Our own entry (we crashed after writing it): carry on with the attachments.
        adopted: e.jobId !== jobId,
      };
    }

    async function remember(t: Target): Promise<Target> {
      const entry: LedgerEntry = {
        kind: t.kind,
        issueKey: t.issueKey,
        ...(t.issueId ? { issueId: t.issueId } : {}),
        ...(t.commentId ? { commentId: t.commentId } : {}),
        mailboxId: data.mailboxId,
        jobId,
        sha256: record.rawRef.sha256,
        at: new Date().toISOString(),
      };
      await ledger.put(mk, entry);
      return t;
    }

    async function place(): Promise<Target> {
      const known = await ledger.get(mk);
      if (known) {
        // Another mail with this Message-ID was delivered since we looked: ours is a different
        // mail; the next attempt takes the id-and-hash identity.
        if (known.sha256 && known.sha256 !== record.rawRef.sha256) throw new RetryableError(`another mail with Message-ID ${mk} and other content was just delivered (${known.issueKey}); delivering this one separately`);
        return fromLedger(known);
      }

      const claim = await findParent(route);
      if (!claim) await waitForThreadStart();
      const parent = claim && (await mayJoin(claim)) ? claim : undefined;
      if (state.threadWaitSince !== undefined) await job.updateProgress(0); // waiting is over
      if (parent) {
        const commented = await comment(parent.issueKey);
        if (commented) return commented;
        // The issue the ledger named is gone: the mail becomes a new issue.
      }

      const since = await mayHaveBeenMade();
      if (since !== undefined) {
        const found = await recover(route, since);
        if (found) return remember(found);
      }
      return remember(await create(route));
    }

    /**
     * Whether a create for this mail may have happened unseen, and since when (epoch ms): this
     * job sent one and never recorded its answer, or the mail reached its mailbox before this
     * ledger was born (a wiped Redis; a fresh install reading an old inbox), or it is not known
     * when the mail arrived (file ingest, jobs from before arrival times were kept).
     */
    async function mayHaveBeenMade(): Promise<number | undefined> {
      const sent = state.createSent ?? state.requestSent;
      if (sent) return Math.min(Date.parse(sent), Date.now());
      const arrived = data.origin.kind === 'imap' && data.origin.internalDate ? Date.parse(data.origin.internalDate) : NaN;
      // The Date header is the sender's claim: only ever used to widen the window, never to skip the look.
      if (Number.isNaN(arrived)) return Math.min(Date.parse(record.date ?? '') || 0, Date.now()) || Date.now() - 30 * 24 * 3600_000;
      return arrived < (await ledger.bornAt()) - BORN_SLACK_MS ? arrived : undefined;
    }

    /**
     * Look for what an unseen create made: this project's issues by this reporter created since
     * `since` (minus a margin), same summary, confirmed by their mailroom.message property. A
     * JSM request whose property was never set (crash between create and property) is ours
     * only when this job sent a create: then it is adopted and given its property.
     */
    async function recover(r: DeliverRoute, since: number): Promise<Target | undefined> {
      const settle = deps.recoverySettleMs ?? RECOVERY_SETTLE_MS;
      const sent = state.createSent ?? state.requestSent;
      if (sent && Date.now() - Date.parse(sent) < settle) {
        // Too soon for Jira's index to show it: come back when it will.
        await job.moveToDelayed(Date.parse(sent) + settle, ctx.token);
        throw new DelayedError();
      }
      const people = peopleOf(data.people);
      const summary = summaryOf(record.subject, record.from);
      const project = routeProject(r);
      const minutes = Math.ceil((Date.now() - since + RECOVERY_MARGIN_MS) / 60_000);
      const jql = [
        ...(project ? [`project = ${jqlString(project)}`] : []),
        // Without an account for the sender the token's account reports (Jira's default, and JSM's without raiseOnBehalfOf).
        people.reporter ? `reporter = ${jqlString(people.reporter)}` : 'reporter = currentUser()',
        // Relative: absolute dates in JQL are read in the token account's time zone.
        `created >= -${minutes}m`,
      ].join(' AND ');
      const hits = await client.searchJql(`${jql} ORDER BY created ASC`, ['summary', 'created'], { max: RECOVERY_MAX + 1 });
      if (hits.length > RECOVERY_MAX) {
        throw new PermanentError(`cannot tell whether this mail was delivered already: more than ${RECOVERY_MAX} issues match "${jql}"; deliver it by hand or run it again later`);
      }
      const kind = isRequestRoute(r) ? 'request' : 'issue';
      let orphan: { key: string; id: string } | undefined;
      for (const h of hits) {
        if (h.fields.summary !== summary) continue;
        const prop = (await client.getIssueProperty(h.key, MESSAGE_PROPERTY)) as { id?: string; complete?: boolean; mailboxId?: string; sha256?: string } | undefined;
        if (prop?.id === mk && prop.sha256 && prop.sha256 !== record.rawRef.sha256) {
          // Made from another mail that carried this Message-ID: restore its ledger entry, and
          // deliver ours under its own identity on the next attempt.
          await ledger.put(mk, { kind, issueKey: h.key, issueId: h.id, mailboxId: prop.mailboxId ?? data.mailboxId, jobId: 'recovered', sha256: prop.sha256, at: new Date().toISOString() });
          throw new RetryableError(`the issue with Message-ID ${mk} (${h.key}) was made from another mail; delivering this one separately`);
        }
        if (prop?.id === mk) {
          const sameMailbox = prop.mailboxId === undefined || prop.mailboxId === data.mailboxId;
          // This job's own create (its answer lost), or an interrupted delivery from this mailbox:
          // ours to finish (attachments not yet recorded as up come again). Complete and not ours,
          // or made for another mailbox: adopt it as it is.
          const adopted = !sameMailbox || (prop.complete === true && !sent);
          if (!adopted) state.propertyComplete = prop.complete === true;
          log.info({ issueKey: h.key, adopted }, 'found the issue an unseen create made from this mail (confirmed by its property)');
          return { kind, issueKey: h.key, issueId: h.id, adopted };
        }
        const created = Date.parse(String(h.fields.created ?? ''));
        if (kind === 'request' && sent && prop === undefined && !orphan && !(created < Date.parse(sent) - RECOVERY_MARGIN_MS)) orphan = h;
      }
      if (orphan) {
        log.warn({ issueKey: orphan.key }, 'found the request an interrupted run made (no property yet): adopting it');
        await client.setIssueProperty(orphan.key, MESSAGE_PROPERTY, propertyValue(false));
        return { kind: 'request', issueKey: orphan.key, issueId: orphan.id, adopted: false };
      }
      log.info({ candidates: hits.length }, 'no issue was made from this mail before: creating it');
      return undefined;
    }

    /**
     * A reply whose thread's first mail is still on its way (e.g. both arrived together, and the
     * first waits for its sender's account) waits for it, so it becomes a comment on that issue
     * rather than an issue of its own. Bounded: after THREAD_WAIT_MS it is delivered as new.
     */
    async function waitForThreadStart(): Promise<void> {
      const pending = await ledger.pendingOf(threadIds(record).filter((id) => id !== mk));
      if (!pending.length) return;
      const firstWait = state.threadWaitSince === undefined;
      const since = state.threadWaitSince ?? Date.now();
      if (Date.now() - since > THREAD_WAIT_MS) {
        log.warn({ pending }, 'the mail this one answers is still not delivered: delivering this one as new');
        return;
      }
      state.threadWaitSince = since;
      await saveState(ctx, state);
      log.info({ pending }, 'waiting for the mail this one answers to be delivered first');
      const recheckAt = Date.now() + THREAD_RECHECK_MS;
      // On the board: a reply waiting for its thread's first mail, told apart from a retry backoff.
      await job.updateProgress(waitingProgress('the mail this one answers, to be delivered first (then this becomes a comment)', recheckAt, new Date(since)));
      if (firstWait) await tell(job, 'waiting for the mail this one answers to be delivered first: not a retry, no attempt spent');
      await job.moveToDelayed(recheckAt, ctx.token);
      throw new DelayedError();
    }

    /**
     * Whether this reply may become a comment on the issue it names (src/deliver/reply-trust.ts):
     * a trusted link and an allowed sender. If not, the new issue names the one it claimed.
     */
    async function mayJoin(claim: Claim): Promise<boolean> {
      const sender = data.people?.find((x) => x.role === 'sender');
      const facts: ReplyFacts = {
        policy: mailbox!.policy,
        mailboxId: data.mailboxId,
        project: routeProject(route),
        link: claim.source === 'thread' ? { source: 'thread', issueKey: claim.issueKey, recordedBy: claim.recordedBy } : { source: 'subject', issueKey: claim.issueKey },
        issueProject: claim.issueKey.replace(/-\d+$/, ''),
        sender: {
          ...(record.from ? { email: record.from.address } : {}),
          ...(sender?.accountId ? { accountId: sender.accountId } : {}),
          verified: senderVerdict(record.authResults, mailbox!.policy.authservIds).result !== 'fail',
        },
      };
      if (needsPeople(facts)) facts.people = await issuePeople(claim.issueKey);
      const v = decideReply(facts);
      if (v.join) return true;
      state.claimed = { issueKey: claim.issueKey, why: v.why };
      log.warn({ claimed: claim.issueKey, why: v.why }, 'reply may not join the issue it names: delivering it as a new issue');
      await deps.audit?.record({ mail: auditId, mailboxId: data.mailboxId, email: record.from?.address, step: 'reply-refused', outcome: 'new-issue', jira: claim.issueKey, detail: v.why });
      return false;
    }

    async function issuePeople(issueKey: string): Promise<NonNullable<ReplyFacts['people']>> {
      try {
        const issue = await client.getIssue(issueKey, ['reporter']);
        const reporter = (issue.fields.reporter as { accountId?: string } | undefined)?.accountId;
        const watchers = await client.getWatchers(issueKey);
        // Only requests have participants; a platform issue answers 404 here.
        const participants = await client.getRequestParticipants(issueKey).catch((e: unknown) => {
          if (e instanceof NotFoundError) return [];
          throw e;
        });
        return { ...(reporter ? { reporter } : {}), watchers, participants };
      } catch (e) {
        if (e instanceof NotFoundError) return { watchers: [], participants: [] };
        throw e;
      }
    }

    /** The issue this mail answers: by thread (ledger), then by an issue key in the subject. */
    async function findParent(r: DeliverRoute): Promise<Claim | undefined> {
      const thread = await ledger.findThread(threadIds(record).filter((id) => id !== mk));
      if (thread) return { issueKey: thread.issueKey, source: 'thread', recordedBy: thread.mailboxId };
      const project = routeProject(r);
      for (const k of issueKeysIn(record.subject, project)) {
        try {
          const issue = await client.getIssue(k, ['project']);
          const key = (issue.fields.project as { key?: string } | undefined)?.key;
          if (!key || key === project) return { issueKey: issue.key || k, source: 'subject' };
        } catch (e) {
          if (!(e instanceof NotFoundError)) throw e;
        }
      }
      return undefined;
    }

    async function comment(issueKey: string): Promise<Target | undefined> {
      let seen: { ids?: string[] } | undefined;
      try {
        seen = (await client.getIssueProperty(issueKey, COMMENTS_PROPERTY)) as { ids?: string[] } | undefined;
      } catch (e) {
        if (e instanceof NotFoundError) return undefined;
        throw e;
      }
      const ids = Array.isArray(seen?.ids) ? seen.ids : [];
      if (ids.includes(mk)) return remember({ kind: 'comment', issueKey, adopted: true });
      const { text } = await mail();
      const body: AdfDoc = textToAdf(text, { stripQuotedHistory: route.stripQuotedHistory, preface: [commentPreface(record)], notes: await oversizeNotes() });
      let c: { id: string };
      try {
        c = await client.addComment(issueKey, body);
      } catch (e) {
        if (e instanceof NotFoundError) return undefined;
        throw e;
      }
      // Ledger first (the fast guard), then the property (the one that survives Redis).
      const t = await remember({ kind: 'comment', issueKey, commentId: c.id, adopted: false });
      await client.setIssueProperty(issueKey, COMMENTS_PROPERTY, { ids: [...ids, mk].slice(-COMMENT_IDS_KEPT) });
      return t;
    }

    async function create(r: DeliverRoute): Promise<Target> {
      const { text, attachments } = await mail();
      const people = peopleOf(data.people);
      // Without an account for the sender, the issue is reported by the token's account: say who wrote.
      const preface = people.reporter ? [] : [`From ${senderLabel(record.from)} (no Jira account):`];
      const verdict = senderVerdict(record.authResults, mailbox!.policy.authservIds);
      if (verdict.result === 'fail') preface.unshift(`Warning: the sender could not be verified (${verdict.detail}); the From address may be forged.`);
      if (state.claimed) preface.push(`This mail claims to answer ${state.claimed.issueKey}; it was not added there because ${state.claimed.why}.`);
      const body = textToAdf(text, { stripQuotedHistory: r.stripQuotedHistory, preface, notes: await oversizeNotes() });
      const summary = summaryOf(record.subject, record.from);
      // Nothing to upload: the property says complete from the start, and no update follows.
      const complete = !attachments.some((a) => a.size <= limit);
      // Written before the request leaves: if its answer is lost, the re-run knows to look.
      state.createSent ??= new Date().toISOString();
      await saveState(ctx, state);
      if (isRequestRoute(r)) {
        const created = await client.createRequest({
          serviceDeskId: r.serviceDeskId,
          requestTypeId: r.requestTypeId,
          summary,
          description: adfToText(body),
          // Without it the request is raised by the token's account (the preface names the sender).
          raiseOnBehalfOf: people.reporter as string,
          requestParticipants: people.participants,
        });
        // JSM takes no properties at creation: set right after, before the ledger write. A crash
        // in between leaves a request without its property; the re-run's recovery adopts it.
        await client.setIssueProperty(created.issueKey, MESSAGE_PROPERTY, propertyValue(complete));
        state.propertyComplete = complete;
        return { kind: 'request', issueKey: created.issueKey, issueId: created.issueId, adopted: false };
      }
      const fields: Record<string, unknown> = {
        project: { key: r.project },
        issuetype: { name: r.issueType },
        summary,
        description: body,
        ...(people.reporter ? { reporter: { id: people.reporter } } : {}),
      };
      // The property rides in the create (IssueUpdateDetails.properties): one call, atomic.
      const created = await client.createIssue(fields, { properties: [{ key: MESSAGE_PROPERTY, value: propertyValue(complete) }] });
      state.propertyComplete = complete;
      return { kind: 'issue', issueKey: created.key, issueId: created.id, adopted: false };
    }
  };
}
