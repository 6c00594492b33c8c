// `mailroom reprocess`: run the whole pipeline again for one mail. The mail is found by its
// Message-ID (the jobs that carry its record: the jira-deliver job by its id, else a scan of
// mail-inbound) or read from a file. Its old mail-inbound and jira-deliver jobs are removed,
// because adding a job whose id is still held is a no-op and their data holds the resolver's
// and deliverer's progress; then a fresh mail-inbound job with the original origin starts over.
//
// Idempotency is the pipeline's own: the provisioner looks up before it creates, the deliverer
// checks its ledger and the issue property before it creates. Nothing here bypasses them. One
// thing is handed over: a finished delivery's ledger entry is marked as an earlier run's, so
// the fresh deliver job (same id) adopts the issue instead of taking it for its own
// interrupted delivery and uploading the attachments a second time.
import type { Job, JobType, Queue } from 'bullmq';
import type { RetryConfig } from '../config/schema.js';
import { ledgerKey } from '../ledger/ledger.js';
import { mailKey, normalizeMessageId } from '../mail/id.js';
import { DELIVER_STATE_FIELD } from '../deliver/deliverer.js';
import { prepareMail } from '../mail/prepare.js';
import type { MailRecord } from '../mail/record.js';
import type { MailStore } from '../mail/store.js';
import { createAuditTrail } from '../queues/audit.js';
import { RESOLVE_STATE_FIELD } from '../identity/resolver.js';
import { identityProvision, jiraDeliver, mailInbound, type MailOrigin } from '../queues/catalog.js';
import { addJob, openQueue } from '../queues/queue.js';
import type { Redis } from '../core/redis.js';
import type { ParseOptions } from '../mail/parse.js';
import { auditSubjectOf, deliverJobId, inboundJobId, mailRef } from '../mail/ref.js';

export interface ReprocessDeps {
  redis: Redis;
  prefix: string;
  /** The configured mailbox ids (where a Message-ID is looked for without --mailbox). */
  mailboxIds: string[];
  /** Jira site host, for the provision job ids of the mail's people. */
  site: string;
  /** Where a mail read from a file is stored (needed for --file only). */
  store?: MailStore;
  retry?: Partial<Record<string, RetryConfig>>;
  /** How a mail read from a file is parsed (ownMailOptions: this install's notification domains). */
  parse?: ParseOptions;
}

export type ReprocessTarget = { messageId: string; mailboxId?: string } | { raw: Buffer; name: string; mailboxId?: string };

export interface ReprocessResult {
  /** The mail: its Message-ID without <>, or sha256:… when it has none. */
  mail: string;
  mailboxId: string;
  origin: MailOrigin;
  /** The fresh mail-inbound job. */
  jobId: string;
  /** Old jobs removed, as queue/jobId. */
  removed: string[];
  /** Failed provision jobs of the mail's people, retried so the run can make their accounts. */
  retriedProvision: string[];
  /** The issue a finished delivery made; the new run adopts it. */
  deliveredBefore?: string;
  /** Where the record came from. */
  source: 'jobs' | 'file';
}

export type RefusalKind = 'not-found' | 'busy' | 'ambiguous' | 'usage';

/** Why a mail is not reprocessed, in words a person can act on. */
export class ReprocessRefused extends Error {
  constructor(
    readonly kind: RefusalKind,
    message: string,
  ) {
    super(message);
  }
}

interface Found {
  mailboxId: string;
  origin: MailOrigin;
  record: MailRecord;
  receivedAt?: string;
  inbound?: Job;
  deliver?: Job;
}

interface Queues {
  inbound: Queue;
  deliver: Queue;
  provision: Queue;
}

const IN_FLIGHT_STATES: JobType[] = ['active', 'waiting', 'delayed', 'prioritized', 'waiting-children'];
const IN_FLIGHT = new Set<string>(IN_FLIGHT_STATES);
// Jobs read per page when scanning mail-inbound for a Message-ID.
const SCAN_PAGE = 500;

export async function reprocessMail(deps: ReprocessDeps, target: ReprocessTarget): Promise<ReprocessResult> {
  const q = { connection: deps.redis, prefix: deps.prefix };
  const queues: Queues = { inbound: openQueue(mailInbound, q), deliver: openQueue(jiraDeliver, q), provision: openQueue(identityProvision, q) };
  try {
    if (target.mailboxId !== undefined && !deps.mailboxIds.includes(target.mailboxId)) {
      throw new ReprocessRefused('usage', `no mailbox "${target.mailboxId}" in the configuration (${deps.mailboxIds.join(', ')})`);
    }
    let found: Found;
    let source: ReprocessResult['source'];
    if ('raw' in target) {
      source = 'file';
      found = await fromFile(deps, queues, target);
    } else {
      source = 'jobs';
      found = await fromJobs(deps, queues, target.messageId, target.mailboxId);
    }
    return await restart(deps, queues, found, source);
  } finally {
    await Promise.all(Object.values(queues).map((x) => x.close()));
  }
}

async function fromJobs(deps: ReprocessDeps, queues: Queues, messageId: string, mailboxId?: string): Promise<Found> {
  const id = normalizeMessageId(messageId);
  if (!id) throw new ReprocessRefused('usage', 'the Message-ID is empty');
  const candidates = mailboxId ? [mailboxId] : await mailboxesOf(deps, id);
  const found = await findByMessageId(queues, id, candidates);
  if (found.length === 0) {
    throw new ReprocessRefused(
      'not-found',
      `no job holds the mail <${id}>${mailboxId ? ` in mailbox ${mailboxId}` : ''} (removed, or never read): reprocess it from its raw source with --file`,
    );
  }
  if (found.length > 1) {
    throw new ReprocessRefused('ambiguous', `the mail <${id}> reached several mailboxes (${found.map((f) => f.mailboxId).join(', ')}): say which with --mailbox`);
  }
  return found[0]!;
}

async function fromFile(deps: ReprocessDeps, queues: Queues, target: { raw: Buffer; name: string; mailboxId?: string }): Promise<Found> {
  const mailboxId = target.mailboxId ?? (deps.mailboxIds.length === 1 ? deps.mailboxIds[0] : undefined);
  if (!mailboxId) throw new ReprocessRefused('usage', `say which mailbox the mail belongs to with --mailbox (${deps.mailboxIds.join(', ')})`);
  if (!deps.store) throw new ReprocessRefused('usage', 'no mail store configured');
  const record = await prepareMail(target.raw, deps.store, deps.parse);
  // The same mail read before: start over from its jobs' origin, so job ids stay the same.
  const earlier = record.messageId
    ? await findByMessageId(queues, normalizeMessageId(record.messageId), [mailboxId])
    : await bySha(queues, record, mailboxId);
  const before = earlier[0];
  return {
    mailboxId,
    origin: before?.origin ?? { kind: 'file', name: target.name },
    record,
    ...(before?.inbound ? { inbound: before.inbound } : {}),
    ...(before?.deliver ? { deliver: before.deliver } : {}),
  };
}

/** Mailboxes the audit trail saw the mail in, then every configured one. */
async function mailboxesOf(deps: ReprocessDeps, id: string): Promise<string[]> {
  const events = await createAuditTrail({ redis: deps.redis, prefix: deps.prefix }).read(id);
  const seen = events.filter((e) => e.mail && normalizeMessageId(e.mail) === id).map((e) => e.mailboxId).filter((m): m is string => !!m);
  return [...new Set([...seen, ...deps.mailboxIds])];
}

const deliverIdFor = (mailboxId: string, messageId: string) => deliverJobId({ mailboxId, messageId, sha256: '' });

async function findByMessageId(queues: Queues, id: string, mailboxIds: string[]): Promise<Found[]> {
  const out = new Map<string, Found>();
  // The jira-deliver job id is derived from mailbox and Message-ID (as the mail wrote it: with <> or without).
  for (const mailboxId of mailboxIds) {
    for (const form of [`<${id}>`, id]) {
      const job = await queues.deliver.getJob(deliverIdFor(mailboxId, form));
      if (!job || normalizeMessageId(String(job.data?.record?.messageId ?? '')) !== id) continue;
      const data = job.data as { mailboxId: string; origin: MailOrigin; record: MailRecord };
      const inbound = await queues.inbound.getJob(mailInbound.jobId({ ...data, receivedAt: '' }));
      out.set(mailboxId, { mailboxId, origin: data.origin, record: data.record, deliver: job, ...(inbound ? { inbound, receivedAt: inbound.data?.receivedAt } : {}) });
      break;
    }
  }
  // Mail that never reached delivery: look through mail-inbound.
  const wanted = new Set(mailboxIds.filter((m) => !out.has(m)));
  if (wanted.size) {
    for (let start = 0; ; start += SCAN_PAGE) {
      const jobs = await queues.inbound.getJobs([...IN_FLIGHT_STATES, 'completed', 'failed'], start, start + SCAN_PAGE - 1, true);
      for (const job of jobs) {
        const d = job?.data as { mailboxId?: string; origin?: MailOrigin; record?: MailRecord; receivedAt?: string } | undefined;
        if (!d?.record?.messageId || !d.mailboxId || !d.origin || !wanted.has(d.mailboxId)) continue;
        if (normalizeMessageId(d.record.messageId) !== id || out.has(d.mailboxId)) continue;
        out.set(d.mailboxId, { mailboxId: d.mailboxId, origin: d.origin, record: d.record, inbound: job, receivedAt: d.receivedAt });
      }
      if (jobs.length < SCAN_PAGE) break;
    }
  }
  return [...out.values()];
}

/** A mail without Message-ID is known by its raw source's hash. */
async function bySha(queues: Queues, record: MailRecord, mailboxId: string): Promise<Found[]> {
  const deliver = await queues.deliver.getJob(deliverJobId({ mailboxId, sha256: record.rawRef.sha256 }));
  // The mail-inbound job id follows the origin: a mail read from IMAP has its UID's id, not the hash.
  const deliverOrigin = (deliver?.data as { origin?: MailOrigin } | undefined)?.origin;
  const inbound = await queues.inbound.getJob(inboundJobId(mailRef({ mailboxId, origin: deliverOrigin ?? { kind: 'file' }, record })));
  const data = (deliver?.data ?? inbound?.data) as { mailboxId?: string; origin?: MailOrigin } | undefined;
  if (!data?.origin || data.mailboxId !== mailboxId) return [];
  return [{ mailboxId, origin: data.origin, record, ...(inbound ? { inbound } : {}), ...(deliver ? { deliver } : {}) }];
}

async function restart(deps: ReprocessDeps, queues: Queues, found: Found, source: ReprocessResult['source']): Promise<ReprocessResult> {
  const mk = mailKey(found.record);
  const refs: { queue: string; job: Job; state: string }[] = [];
  for (const [queue, job] of [['mail-inbound', found.inbound], ['jira-deliver', found.deliver]] as const) {
    if (job) refs.push({ queue, job, state: await job.getState() });
  }
  const busy = refs.find((r) => IN_FLIGHT.has(r.state));
  if (busy) {
    throw new ReprocessRefused(
      'busy',
      busy.state === 'active'
        ? `the mail ${mk} is being processed right now (${busy.queue}/${busy.job.id} is active): try again once it has finished`
        : `the mail ${mk} is still in the pipeline (${busy.queue}/${busy.job.id} is ${busy.state}): it will run on its own`,
    );
  }

  // A finished delivery: its ledger entry becomes an earlier run's, so the fresh job adopts the issue.
  let deliveredBefore: string | undefined;
  const deliverState = found.deliver?.data?.[DELIVER_STATE_FIELD] as { finished?: boolean; target?: { issueKey?: string } } | undefined;
  if (found.deliver && deliverState?.finished) {
    const k = ledgerKey(deps.prefix, mk);
    const raw = await deps.redis.get(k);
    const entry = raw ? (JSON.parse(raw) as { jobId?: string; issueKey?: string }) : undefined;
    if (entry?.jobId === String(found.deliver.id)) {
      await deps.redis.set(k, JSON.stringify({ ...entry, jobId: `${entry.jobId}@${found.deliver.timestamp}` }), 'KEEPTTL');
    }
    deliveredBefore = entry?.issueKey ?? deliverState.target?.issueKey;
  }

  // People whose account could not be made: retry their provision jobs, or the run gives up on them again.
  const retriedProvision: string[] = [];
  const people = (found.inbound?.data?.[RESOLVE_STATE_FIELD] as { people?: { email: string; mode?: 'user' | 'customer'; status: string }[] } | undefined)?.people ?? [];
  for (const person of people) {
    if (person.status !== 'gave-up' || !person.mode) continue;
    const id = identityProvision.jobId({ site: deps.site, email: person.email, mode: person.mode, mailboxId: found.mailboxId });
    const job = await queues.provision.getJob(id);
    if (job && (await job.getState()) === 'failed') {
      await job.retry('failed');
      retriedProvision.push(`identity-provision/${id}`);
    }
  }

  const removed: string[] = [];
  for (const r of refs.reverse()) {
    try {
      await r.job.remove();
    } catch (e) {
      throw new ReprocessRefused('busy', `could not remove ${r.queue}/${r.job.id} (${(e as Error).message}): it was picked up meanwhile; try again once it has finished`);
    }
    removed.push(`${r.queue}/${r.job.id}`);
  }

  const data = { mailboxId: found.mailboxId, origin: found.origin, record: found.record, receivedAt: found.receivedAt ?? new Date().toISOString() };
  const job = await addJob(queues.inbound, mailInbound, data, deps.retry);
  await createAuditTrail({ redis: deps.redis, prefix: deps.prefix }).record({
    mail: auditSubjectOf(mailRef(found)),
    mailboxId: found.mailboxId,
    email: found.record.from?.address,
    step: 'reprocess',
    outcome: 'queued',
    detail: `mailroom reprocess (${source}): ${removed.length ? `removed ${removed.join(', ')}` : 'no earlier jobs'}; fresh mail-inbound/${job.id}`,
  });
  return {
    mail: mk,
    mailboxId: found.mailboxId,
    origin: found.origin,
    jobId: String(job.id),
    removed,
    retriedProvision,
    ...(deliveredBefore ? { deliveredBefore } : {}),
    source,
  };
}
