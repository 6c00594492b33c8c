// What a person needs to know about a failed job, read from the job alone (pure: no Redis).
// Job data is `unknown` here: failed jobs outlive deploys, so nothing is assumed about them
// beyond what is checked.
import { formatJobRef } from './ids.js';

/** The fields of a BullMQ job this module reads. */
export interface JobLike {
  id?: string;
  name: string;
  data: unknown;
  failedReason?: string;
  stacktrace?: string[] | null;
  attemptsMade: number;
  attemptsStarted?: number;
  opts?: { attempts?: number };
  timestamp: number;
  processedOn?: number;
  finishedOn?: number;
}

export interface FailedJob {
  queue: string;
  id: string;
  /** `<queue>/<jobId>`: what `failed show|retry|remove` accept. */
  ref: string;
  name: string;
  reason: string;
  attemptsMade: number;
  maxAttempts?: number;
  /** ISO 8601; when the job last failed (falls back to when it was added). */
  failedAt: string;
  addedAt: string;
  mailboxId?: string;
  sender?: string;
  subject?: string;
  messageId?: string;
  /** Pointer to the raw source in the mail store. */
  rawRef?: { sha256: string; size?: number };
}

export interface FailedJobDetail extends FailedJob {
  /** One entry per failed attempt, newest last, as BullMQ recorded them. */
  stacktrace: string[];
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Sender, subject and raw pointer from a mail record (mail-inbound, jira-deliver) or a provision job. */
export function mailFacts(data: unknown): Pick<FailedJob, 'mailboxId' | 'sender' | 'subject' | 'messageId' | 'rawRef'> {
  const d = obj(data);
  if (!d) return {};
  const facts: Pick<FailedJob, 'mailboxId' | 'sender' | 'subject' | 'messageId' | 'rawRef'> = {};
  const mailboxId = str(d.mailboxId);
  if (mailboxId) facts.mailboxId = mailboxId;
  const record = obj(d.record);
  if (record) {
    const from = str(obj(record.from)?.address);
    if (from) facts.sender = from;
    const subject = str(record.subject);
    if (subject !== undefined) facts.subject = subject;
    const mid = str(record.messageId);
    if (mid) facts.messageId = mid;
    const raw = obj(record.rawRef);
    const sha = str(raw?.sha256);
    if (sha) facts.rawRef = typeof raw?.size === 'number' ? { sha256: sha, size: raw.size } : { sha256: sha };
  } else {
    const email = str(d.email);
    if (email) facts.sender = email;
    const mid = str(d.messageId);
    if (mid) facts.messageId = mid;
  }
  return facts;
}

export function summarizeFailed(queue: string, job: JobLike): FailedJob {
  const id = job.id ?? '';
  const failedAt = job.finishedOn ?? job.processedOn ?? job.timestamp;
  const summary: FailedJob = {
    queue,
    id,
    ref: formatJobRef(queue, id),
    name: job.name,
    reason: job.failedReason || '(no reason recorded)',
    attemptsMade: job.attemptsMade,
    failedAt: new Date(failedAt).toISOString(),
    addedAt: new Date(job.timestamp).toISOString(),
    ...mailFacts(job.data),
  };
  if (job.opts?.attempts !== undefined) summary.maxAttempts = job.opts.attempts;
  return summary;
}

export function detailFailed(queue: string, job: JobLike): FailedJobDetail {
  return { ...summarizeFailed(queue, job), stacktrace: job.stacktrace ?? [] };
}

export interface FailedFilter {
  /** Only jobs that failed at or after this time (ms since epoch). */
  since?: number;
  /** Matched against the failure reason (case-insensitive). */
  reason?: RegExp;
  /** Sender email, case-insensitive exact match. */
  sender?: string;
}

export function matchesFilter(job: FailedJob, f: FailedFilter): boolean {
  if (f.since !== undefined && Date.parse(job.failedAt) < f.since) return false;
  if (f.reason && !f.reason.test(job.reason)) return false;
  if (f.sender !== undefined && job.sender?.toLowerCase() !== f.sender.trim().toLowerCase()) return false;
  return true;
}

export function isFilterEmpty(f: FailedFilter): boolean {
  return f.since === undefined && !f.reason && f.sender === undefined;
}
