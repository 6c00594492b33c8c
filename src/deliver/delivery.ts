// What one delivery works with: the deliverer's dependencies, the step's shared per-job context
// (the mail's identity, its progress kept in job data, the Jira client, the parsed mail), and the
// ledger writes every step shares. The steps themselves live in place.ts, thread.ts, comment.ts,
// create.ts, attachments.ts and outcome.ts; deliverer.ts runs them in order.
import type { z } from 'zod';
import { DEFAULT_MAX_ATTACHMENTS, type MailboxConfig, type RetryConfig } from '../config/schema.js';
import type { JiraClient } from '../jira/client.js';
import type { MailRecord } from '../mail/record.js';
import type { MailStore } from '../mail/store.js';
import { mailKey } from '../mail/id.js';
import type { Ledger, LedgerEntry } from '../ledger/ledger.js';
import type { AuditTrail } from '../queues/audit.js';
import type { jiraDeliver } from '../queues/catalog.js';
import type { KeptProgress, ProcessorContext } from '../station/worker.js';
import type { Redis } from '../core/redis.js';
import type { Metrics } from '../core/metrics.js';
import { cutNote, loadContent, type MailContent } from './content.js';
import { verdictOf } from '../mail/sender-trust.js';
import { mailOnlyParticipants } from './mail-only.js';
import { formatBytes, type DeliverRoute } from './route.js';

export type DeliverJob = z.infer<typeof jiraDeliver.payload>;

/** The part of the Jira client delivery uses. */
export type DeliverClient = Pick<
  JiraClient,
  'createIssue' | 'getIssue' | 'addComment' | 'addAttachment' | 'setIssueProperty' | 'getIssueProperty' | 'searchJql' | 'createRequest'
  | 'getWatchers' | 'getRequestParticipants' | 'myPermissions' | 'getTransitions' | 'transitionIssue' | 'linkIssues'
>;

export { COMMENTS_PROPERTY, MESSAGE_PROPERTY } from './properties.js';
/** Where delivery progress is kept in the job's data (beside the payload). */
export const DELIVER_STATE_FIELD = 'deliver';

export interface DelivererDeps {
  redis: Redis;
  prefix: string;
  mailbox(id: string): MailboxConfig | undefined;
  store: MailStore;
  /** The client to use now (on the stored token, behind the Retry-After gate). */
  jira(): Promise<DeliverClient>;
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
  /** How often a project held by its breaker is re-checked (BREAKER_RECHECK_MS); tests shorten it. */
  breakerRecheckMs?: number;
  /**
   * How long after a create whose answer was lost the deliverer keeps looking for what it made
   * before creating again (RECOVERY_WINDOW_MS: covers two minutes of index lag). Tests scale it
   * with the simulator's lag.
   */
  recoveryWindowMs?: number;
  /**
   * Parses a raw mail into its text and attachments; the role passes a content pool's, so the
   * CPU work runs off the event loop that renews job locks. Default: on this thread.
   */
  parseContent?: (raw: Buffer) => Promise<MailContent>;
  /** Counters: replies to resolved issues (resolved.ts). */
  metrics?: Pick<Metrics, 'resolvedReplies'>;
}

export interface Target {
  kind: 'issue' | 'request' | 'comment';
  issueKey: string;
  issueId?: string;
  commentId?: string;
  /** Delivered by another job (or before Redis was lost): its attachments are not ours to upload. */
  adopted: boolean;
}

export interface DeliverState {
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
  /**
   * Jira refused to set the sender as reporter (no Modify reporter in the project): the issue
   * is (being) made reported by the token's account with the sender named in its text, and
   * the recovery look searches for that reporter.
   */
  reporterRefused?: boolean;
  /** A reply to a resolved issue under deliver.resolvedReply 'reopen': the issue to take out of done after the comment (resolved.ts). */
  reopen?: { issueKey: string; done?: boolean; outcome?: 'reopened' | 'not-reopened' };
  /** A reply to a resolved issue made a new issue instead (resolved.ts): which, why, and whether the link step ran. */
  followUp?: { of: string; why: string; linked?: boolean; linkRefused?: string };
}

export function isDeliverState(s: unknown): s is DeliverState {
  const state = s as DeliverState | undefined;
  return Boolean(state && state.v === 1 && Array.isArray(state.uploaded));
}

/** One job's delivery: what every step reads, and the progress it keeps. */
export interface Delivery {
  deps: DelivererDeps;
  ledger: Ledger;
  ctx: ProcessorContext;
  data: DeliverJob;
  record: MailRecord;
  mailbox: MailboxConfig;
  route: DeliverRoute;
  jobId: string;
  /** The mail's Message-ID key (what the audit trail is kept under). */
  auditId: string;
  /** The mail's identity in the ledger and in issue properties. */
  mk: string;
  state: DeliverState;
  progress: KeptProgress<DeliverState>;
  client: DeliverClient;
  /** The mail's text and attachments, parsed from the store once, when first asked for. */
  mail(): Promise<MailContent>;
  // What the steps need besides the state, handed to them here so that none calls back into
  // this file (one delivery reads top-down: deliverer.ts -> place -> thread/comment/create).
  /** Keep the progress in the job's data (a re-run resumes from it). */
  save(): Promise<void>;
  /** Write the ledger entry for where this mail went. */
  remember(t: Target): Promise<Target>;
  /** Where the ledger says this mail went (adopted when another job wrote it). */
  fromLedger(e: LedgerEntry): Target;
  /** Notes for the body: a cut mail, attachments over the size limit or the count cap. */
  oversizeNotes(): Promise<string[]>;
  /** The MESSAGE_PROPERTY value of an issue made from this mail. */
  propertyValue(complete: boolean): ReturnType<typeof propertyValue>;
  /** The attachments the route uploads, and those over its count cap. */
  uploadPlan<A extends { size: number }>(attachments: readonly A[]): { upload: A[]; overCount: A[] };
}

export interface DeliveryStart {
  deps: DelivererDeps;
  ledger: Ledger;
  ctx: ProcessorContext;
  data: DeliverJob;
  mailbox: MailboxConfig;
  route: DeliverRoute;
}

export async function openDelivery(s: DeliveryStart): Promise<Delivery> {
  const record = s.data.record;
  // The mail's identity: its Message-ID, unless another mail with other content holds that id
  // already (mailers reuse ids; attackers copy them): then the id and the content hash.
  const auditId = mailKey(record);
  const mk = await identityOf(s.ledger, record, auditId);
  const progress = s.ctx.progress(DELIVER_STATE_FIELD, isDeliverState);
  const state: DeliverState = progress.read() ?? { v: 1, uploaded: [], failed: [] };
  const client = await s.deps.jira();
  let content: MailContent | undefined;
  const mail = async () => (content ??= await loadContent(s.deps.store, record, s.deps.parseContent));
  const d: Delivery = {
    ...s,
    record,
    jobId: String(s.ctx.job.id),
    auditId,
    mk,
    state,
    progress,
    client,
    mail,
    save: () => progress.save(state),
    remember: (t) => remember(d, t),
    fromLedger: (e) => fromLedger(d, e),
    oversizeNotes: () => oversizeNotes(d),
    propertyValue: (complete) => propertyValue(d, complete),
    uploadPlan: (attachments) => attachmentsToUpload(s.route, attachments),
  };
  return d;
}

async function identityOf(ledger: Ledger, record: MailRecord, base: string): Promise<string> {
  if (!record.messageId) return base;
  const first = await ledger.get(base);
  return first?.sha256 && first.sha256 !== record.rawRef.sha256 ? `${base}#sha256:${record.rawRef.sha256}` : base;
}

/** Names listed at most in the note on attachments over the count cap (the note stays bounded). */
const OVER_COUNT_NAMES = 50;

/** The attachments a mail uploads: those within the route's size limit, the first `maxAttachments` of them; and the rest of those. */
export function attachmentsToUpload<A extends { size: number }>(route: Pick<Delivery['route'], 'maxAttachmentBytes' | 'maxAttachments'>, attachments: readonly A[]): { upload: A[]; overCount: A[] } {
  const fitting = attachments.filter((a) => a.size <= route.maxAttachmentBytes);
  // A route from before the knob existed (a job's stale data) takes the default, never "no cap".
  const cap = route.maxAttachments ?? DEFAULT_MAX_ATTACHMENTS;
  return { upload: fitting.slice(0, cap), overCount: fitting.slice(cap) };
}

/** Notes for the body: a cut mail, attachments over the route's size limit or over its count cap. */
async function oversizeNotes(d: Delivery): Promise<string[]> {
  const m = await d.mail();
  const limit = d.route.maxAttachmentBytes;
  const sha = d.record.rawRef.sha256;
  const { overCount } = attachmentsToUpload(d.route, m.attachments);
  const names = overCount.slice(0, OVER_COUNT_NAMES).map((a) => `${a.filename} (${formatBytes(a.size)})`);
  const more = overCount.length > OVER_COUNT_NAMES ? ` and ${overCount.length - OVER_COUNT_NAMES} more` : '';
  return [
    ...(m.cut ? [cutNote(m.cut, sha)] : []),
    ...m.attachments
      .filter((a) => a.size > limit)
      .map((a) => `Attachment not uploaded: ${a.filename} (${formatBytes(a.size)}) is larger than the ${formatBytes(limit)} limit. The whole mail is kept in Mailroom's store (sha256 ${sha}).`),
    ...(overCount.length
      ? [`${overCount.length} attachments not uploaded: a mail uploads at most ${d.route.maxAttachments} (deliver.maxAttachments): ${names.join(', ')}${more}. The whole mail is kept in Mailroom's store (sha256 ${sha}).`]
      : []),
  ];
}

/** The MESSAGE_PROPERTY value of an issue made from this mail. */
function propertyValue(d: Delivery, complete: boolean) {
  // Who Jira will not mail, for agents' public comments (src/respond/), when the mailbox answers customers.
  const mailOnly = d.mailbox.respond?.comments
    ? mailOnlyParticipants({
        sender: d.record.from?.address,
        cc: d.record.cc.map((a) => a.address),
        verdict: verdictOf(d.record, d.mailbox),
        people: d.data.people,
        ownAddresses: d.mailbox.addresses,
        blockedLocalParts: d.mailbox.policy.blockedLocalParts,
      })
    : [];
  return { id: d.mk, mailboxId: d.data.mailboxId, sha256: d.record.rawRef.sha256, complete, ...(mailOnly.length ? { mailOnly } : {}) };
}

function fromLedger(d: Delivery, e: LedgerEntry): Target {
  return {
    kind: e.kind,
    issueKey: e.issueKey,
    ...(e.issueId ? { issueId: e.issueId } : {}),
    ...(e.commentId ? { commentId: e.commentId } : {}),
    // Our own entry (we crashed after writing it): carry on with the attachments.
    adopted: e.jobId !== d.jobId,
  };
}

/** Writes the ledger entry for where this mail went. */
async function remember(d: Delivery, t: Target): Promise<Target> {
  const entry: LedgerEntry = {
    kind: t.kind,
    issueKey: t.issueKey,
    ...(t.issueId ? { issueId: t.issueId } : {}),
    ...(t.commentId ? { commentId: t.commentId } : {}),
    mailboxId: d.data.mailboxId,
    jobId: d.jobId,
    sha256: d.record.rawRef.sha256,
    at: new Date().toISOString(),
  };
  await d.ledger.put(d.mk, entry);
  return t;
}
