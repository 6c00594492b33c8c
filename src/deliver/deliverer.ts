// The jira-deliver processor: a resolved mail becomes a Jira issue, a JSM request, or a
// comment on the issue it answers, with its attachments, exactly once.
//
// Exactly once rests on three things. (1) A per-mail lock around "check, then create", so two
// jobs for one mail (it reached two mailboxes) never both create. (2) Two records checked
// before creating: the Redis ledger keyed by Message-ID, and the issue property
// `mailroom.message` (set in the create call itself on the platform route), found by JQL when
// Redis lost the ledger or a crash came between create and ledger. (3) Progress in the job's
// data (`deliver`): which issue, which attachments are up, so a re-run resumes.
import { DelayedError, type Queue } from 'bullmq';
import { tell, waitingProgress } from '../queues/story.js';
import type { z } from 'zod';
import type { MailboxConfig, RetryConfig } from '../config/schema.js';
import { NotFoundError, PermanentError } from '../errors.js';
import type { JiraClient } from '../jira/client.js';
import type { AdfDoc } from '../jira/types.js';
import type { MailStore } from '../mail/store.js';
import type { AuditTrail } from '../pipeline/audit.js';
import { jiraDeliver, mailboxActions, mailInbound } from '../queues/catalog.js';
import { addJob } from '../queues/queue.js';
import type { Processor, ProcessorContext } from '../queues/worker.js';
import type { Redis } from '../redis.js';
import { adfToText, textToAdf } from './adf.js';
import { loadContent, type MailContent } from './content.js';
import { createLedger, type LedgerEntry } from './ledger.js';
import {
  commentPreface,
  formatBytes,
  isRequestRoute,
  issueKeysIn,
  mailKey,
  peopleOf,
  routeProject,
  senderLabel,
  summaryOf,
  threadIds,
  type DeliverRoute,
} from './route.js';

export type DeliverJob = z.infer<typeof jiraDeliver.payload>;

/** The part of the Jira client delivery uses. */
export type DeliverClient = Pick<
  JiraClient,
  'createIssue' | 'getIssue' | 'addComment' | 'addAttachment' | 'setIssueProperty' | 'getIssueProperty' | 'searchJql' | 'createRequest'
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
}

export const DEFAULT_LOCK_MS = 30_000;
// A reply waits this long at most for its thread's first mail (which may be waiting for its
// sender's account to be made), re-checking every THREAD_RECHECK_MS.
export const THREAD_WAIT_MS = 10 * 60_000;
export const THREAD_RECHECK_MS = 1_000;

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
  /** A JSM create was sent (its property is set only after): a re-run looks for an orphan first. */
  requestSent?: string;
  /** When this reply started waiting for its thread's first mail to be delivered (epoch ms). */
  threadWaitSince?: number;
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
    const mk = mailKey(record);
    const state: DeliverState = readState(job.data) ?? { v: 1, uploaded: [], failed: [] };
    const client = await deps.jira();
    let content: MailContent | undefined;
    const mail = async () => (content ??= await loadContent(deps.store, record));
    const limit = route.maxAttachmentBytes;
    const oversizeNotes = async () =>
      (await mail()).attachments
        .filter((a) => a.size > limit)
        .map((a) => `Attachment not uploaded: ${a.filename} (${formatBytes(a.size)}) is larger than the ${formatBytes(limit)} limit. The whole mail is kept in Mailroom's store (sha256 ${record.rawRef.sha256}).`);

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
      if (target.kind !== 'comment') {
        // Marks the issue complete, so a job that finds it by property after a Redis loss
        // knows its attachments are there.
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
      mail: record.messageId ? mk : mailInbound.jobId({ ...data, receivedAt: '' }),
      mailboxId: data.mailboxId,
      email: record.from?.address,
      step: 'delivered',
      outcome: target.adopted ? 'duplicate' : 'ok',
      jira: `${target.kind} ${target.issueKey}${target.commentId ? ` comment ${target.commentId}` : ''}`,
      detail: `${result.uploaded} attachments uploaded${oversize ? `, ${oversize} over the size limit` : ''}${state.failed.length ? `, ${state.failed.length} refused by Jira` : ''}`,
    });
    return result;

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
        at: new Date().toISOString(),
      };
      await ledger.put(mk, entry);
      return t;
    }

    async function place(): Promise<Target> {
      const known = await ledger.get(mk);
      if (known) return fromLedger(known);

      const parent = await findParent(route);
      if (!parent) await waitForThreadStart();
      if (state.threadWaitSince !== undefined) await job.updateProgress(0); // waiting is over
      if (parent) {
        const commented = await comment(parent.issueKey);
        if (commented) return commented;
        // The issue the ledger named is gone: the mail becomes a new issue.
      }

      // Made before, but Redis does not know it (lost, or a crash before the ledger write).
      const found = await client.searchJql(`issue.property[${MESSAGE_PROPERTY}].id = ${jqlString(mk)}`, ['summary'], { max: 1 });
      const kind = isRequestRoute(route) ? 'request' : 'issue';
      if (found[0]) {
        const prop = (await client.getIssueProperty(found[0].key, MESSAGE_PROPERTY)) as { complete?: boolean; mailboxId?: string } | undefined;
        // Complete (or made for another mailbox): adopt it. Incomplete from this mailbox: our own
        // interrupted delivery; finish its attachments (any uploaded before the crash come again).
        const adopted = prop?.complete === true || (prop?.mailboxId !== undefined && prop.mailboxId !== data.mailboxId);
        log.info({ issueKey: found[0].key, adopted }, 'found the issue made from this mail by its property');
        return remember({ kind, issueKey: found[0].key, issueId: found[0].id, adopted });
      }
      return remember(await create(route));
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

    /** The issue this mail answers: by thread (ledger), then by an issue key in the subject. */
    async function findParent(r: DeliverRoute): Promise<{ issueKey: string; source: 'thread' | 'subject' } | undefined> {
      const thread = await ledger.findThread(threadIds(record).filter((id) => id !== mk));
      if (thread) return { issueKey: thread.issueKey, source: 'thread' };
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
      const { text } = await mail();
      const people = peopleOf(data.people);
      // Without an account for the sender, the issue is reported by the token's account: say who wrote.
      const preface = people.reporter ? [] : [`From ${senderLabel(record.from)} (no Jira account):`];
      const body = textToAdf(text, { stripQuotedHistory: r.stripQuotedHistory, preface, notes: await oversizeNotes() });
      const summary = summaryOf(record.subject, record.from);
      if (isRequestRoute(r)) {
        const orphan = state.requestSent ? await findOrphanRequest(r, summary, people.reporter, state.requestSent) : undefined;
        if (orphan) {
          log.warn({ issueKey: orphan.key }, 'found the request an interrupted run made (no property yet): adopting it');
          await client.setIssueProperty(orphan.key, MESSAGE_PROPERTY, propertyValue(false));
          return { kind: 'request', issueKey: orphan.key, issueId: orphan.id, adopted: false };
        }
        state.requestSent = new Date(Date.now() - 60_000).toISOString();
        await saveState(ctx, state);
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
        // in between leaves a request without its property (see the README's exactly-once notes).
        await client.setIssueProperty(created.issueKey, MESSAGE_PROPERTY, propertyValue(false));
        return { kind: 'request', issueKey: created.issueKey, issueId: created.issueId, adopted: false };
      }
      const fields: Record<string, unknown> = {
        project: { key: r.project },
        issuetype: { name: r.issueType },
        summary,
        description: body,
        ...(people.reporter ? { reporter: { id: people.reporter } } : {}),
      };
      const created = await client.createIssue(fields, { properties: [{ key: MESSAGE_PROPERTY, value: propertyValue(false) }] });
      return { kind: 'issue', issueKey: created.key, issueId: created.id, adopted: false };
    }

    /**
     * JSM takes no properties at creation, so a run that died between the create and the
     * property leaves a request nothing points at. Before sending again, look for it: same
     * project, reporter and summary, made since the first send, without a Mailroom property.
     */
    async function findOrphanRequest(r: Extract<DeliverRoute, { serviceDeskId: string }>, summary: string, reporter: string | undefined, since: string) {
      if (!r.project || !reporter) return undefined;
      const hits = await client.searchJql(`project = ${r.project} AND reporter = ${jqlString(reporter)} AND summary ~ ${jqlString(summary)}`, ['summary', 'created'], { max: 20 });
      for (const h of hits) {
        const created = Date.parse(String(h.fields.created ?? ''));
        if (h.fields.summary !== summary || (!Number.isNaN(created) && created < Date.parse(since))) continue;
        if ((await client.getIssueProperty(h.key, MESSAGE_PROPERTY)) === undefined) return h;
      }
      return undefined;
    }
  };
}
