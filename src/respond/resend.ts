// `mailroom respond resend`: queue one customer mail again by hand. The job is found by its id
// (its data is kept beside its outcomes in the outbox, 30 days) or named by issue, address and
// comment / acknowledgement; the copy gets a NEW job id (`…|resend|<n>`), so BullMQ does not
// take it for the one already done and the outbox's "once" record of the first does not hold it
// back. Everything else still holds: the responder re-reads the comment (public? in the mailbox's
// project? the address still an email-only participant?), respond.acknowledge must still be on,
// and the per-recipient hourly ceiling counts the resend (over it, the mail is skipped and the
// audit trail says so). A resend is a new message with a new Message-ID: the customer asked for
// it again, perhaps because they deleted the first, and a client that folds duplicates would hide
// a copy under the old id.
import type { Queue } from 'bullmq';
import { key, type Redis } from '../core/redis.js';
import { LEDGER_TTL_S } from '../notify/ledger.js';
import type { AuditTrail } from '../queues/audit.js';
import { respond } from '../queues/catalog.js';
import { addJob } from '../queues/queue.js';
import { keptJob, outboxKey } from './outbox.js';
import type { RespondJob } from './responder.js';

/** A mail to a customer (a bounce note mails nobody: nothing to resend). */
type CustomerMailJob = Exclude<RespondJob, { kind: 'bounce' }>;

/** Why a resend cannot be queued: `usage` is the caller's to fix, `missing` names nothing kept. */
export class ResendRefused extends Error {
  constructor(
    readonly kind: 'usage' | 'missing',
    message: string,
  ) {
    super(message);
  }
}

export type ResendTarget =
  | { jobId: string; to?: string }
  | { issueKey: string; to: string; commentId: string }
  | { issueKey: string; to: string; ack: true; mailboxIds: string[] };

export interface ResendResult {
  jobId: string;
  /** The job it copies. */
  of: string;
  data: CustomerMailJob;
}

/** The respond job's id without its resend / only parts: the one a counter of resends hangs on. */
function baseJobId(data: CustomerMailJob): string {
  const { resend: _r, ...rest } = data;
  if (rest.kind === 'comment') {
    const { only: _o, ...plain } = rest;
    return respond.jobId(plain);
  }
  return respond.jobId(rest);
}

/** The job's data as kept in its outbox record, else as BullMQ still holds it (failed, or kept completed). */
async function jobData(redis: Redis, queue: Queue, prefix: string, jobId: string): Promise<CustomerMailJob | undefined> {
  const kept = await keptJob(redis, prefix, jobId);
  const raw = kept ?? (await queue.getJob(jobId))?.data;
  const parsed = respond.payload.safeParse(raw);
  return parsed.success && parsed.data.kind !== 'bounce' ? parsed.data : undefined;
}

/** The job to copy, with the address narrowed as asked; refuses what names nothing or the wrong address. */
export async function findResend(redis: Redis, queue: Queue, prefix: string, t: ResendTarget): Promise<{ of: string; data: CustomerMailJob }> {
  if ('jobId' in t) {
    const data = await jobData(redis, queue, prefix, t.jobId);
    if (!data) throw new ResendRefused('missing', `no respond job ${t.jobId} is kept (a typo, or its record expired after 30 days): see \`mailroom failed list --queue respond\` or \`mailroom audit <address>\``);
    const narrowed = narrow(data, t.to, t.jobId);
    if (t.to) await mailedBefore(redis, prefix, t.jobId, t.to.toLowerCase());
    return { of: t.jobId, data: narrowed };
  }
  const to = t.to.toLowerCase();
  const candidates: string[] =
    'ack' in t
      ? t.mailboxIds.map((mailboxId) => respond.jobId({ kind: 'acknowledge', mailboxId, issueKey: t.issueKey, to, summary: '', subject: '', references: [], link: false }))
      : [respond.jobId({ kind: 'comment', issueKey: t.issueKey, commentId: t.commentId })];
  for (const id of candidates) {
    const data = await jobData(redis, queue, prefix, id);
    if (!data) continue;
    await mailedBefore(redis, prefix, id, to);
    return { of: id, data: narrow(data, to, id) };
  }
  const what = 'ack' in t ? `an acknowledgement of ${t.issueKey} to ${to}` : `comment ${t.commentId} on ${t.issueKey}`;
  throw new ResendRefused('missing', `no respond job for ${what} is kept (never queued, or its record expired after 30 days)`);
}

/** Only an address the first job wrote to (or tried): a resend names no new recipient. */
async function mailedBefore(redis: Redis, prefix: string, jobId: string, to: string): Promise<void> {
  if (!(await redis.hexists(outboxKey(prefix, jobId), to))) {
    throw new ResendRefused('missing', `respond job ${jobId} never mailed ${to}: a resend goes only to an address the first mail went (or was refused) to`);
  }
}

function narrow(data: CustomerMailJob, to: string | undefined, jobId: string): CustomerMailJob {
  if (!to) return data;
  const address = to.toLowerCase();
  if (data.kind === 'acknowledge') {
    if (data.to.toLowerCase() !== address) throw new ResendRefused('usage', `respond job ${jobId} is the acknowledgement to ${data.to}, not ${address}: drop --to or name that address`);
    return data;
  }
  return { ...data, only: address };
}

/** Queue the copy under a new id (`<first job's id>|resend|<n>`) and write `resend-queued` to the audit trail. */
export async function queueResend(
  deps: { redis: Redis; prefix: string; queue: Queue; audit: AuditTrail; who: string },
  found: { of: string; data: CustomerMailJob },
): Promise<ResendResult> {
  const base = baseJobId(found.data);
  const countKey = key(deps.prefix, 'respond', 'resends', base);
  const [[, n]] = (await deps.redis.multi().incr(countKey).expire(countKey, LEDGER_TTL_S).exec()) as [[unknown, number]];
  const data: CustomerMailJob = { ...found.data, resend: `resend|${n}` };
  const job = await addJob(deps.queue, respond, data);
  const jobId = String(job.id);
  // Each address the copy may mail gets the entry: for a whole comment mail, those the first one wrote to.
  const fields = await deps.redis.hkeys(outboxKey(deps.prefix, found.of));
  const to = data.kind === 'acknowledge' ? [data.to] : data.only ? [data.only] : fields.filter((f) => f.includes('@') && !f.startsWith('mid|'));
  for (const email of to) {
    await deps.audit.record({
      ...(data.kind === 'acknowledge' && data.mail ? { mail: data.mail } : {}),
      email,
      ...(data.kind === 'acknowledge' ? { mailboxId: data.mailboxId } : {}),
      step: 'resend-queued',
      outcome: 'queued',
      jira: data.issueKey,
      detail: `mailroom respond resend by ${deps.who}: ${data.kind === 'acknowledge' ? 'acknowledgement' : `comment ${data.commentId}`} to ${email}, a copy of ${found.of} as ${jobId}`,
    });
  }
  return { jobId, of: found.of, data };
}
