// A job's story in Bull Board's log tab (BullMQ job.log): what each attempt did, in words, so
// a person reading the board sees why a job waits, retries or failed without opening Redis.
// Lines are scrubbed of registered secrets like log lines, and writing one never fails a job.
import type { Job } from 'bullmq';
import type { AuditInput } from './audit.js';
import { scrubSecrets } from '../core/log.js';

/** Longest story line: a Jira error body is summarised, not pasted. */
const MAX_LINE = 500;

export async function tell(job: Pick<Job, 'log'>, line: string): Promise<void> {
  const text = scrubSecrets(line).replace(/\s+/g, ' ').trim();
  try {
    await job.log(text.length > MAX_LINE ? `${text.slice(0, MAX_LINE - 1)}…` : text);
  } catch {
    // The story is for people; the job's work must not depend on it.
  }
}

/** An audit event as a story line: `lookup ana@x.test: not-found (no account with this email)`. */
export function auditLine(ev: AuditInput): string {
  const about = ev.email ? ` ${ev.email}` : '';
  const why = [ev.detail, ev.jira].filter(Boolean).join('; ');
  return `${ev.step}${about}: ${ev.outcome}${why ? ` (${why})` : ''}`;
}

/** What the job's progress shows while it waits on purpose (not a retry: no attempt is spent). */
export interface WaitingProgress {
  waiting: string;
  since: string;
  recheckAt: string;
  note: 'waiting, not retrying: no attempt is spent';
}

export function waitingProgress(what: string, recheckAt: number, since = new Date()): WaitingProgress {
  return { waiting: what, since: since.toISOString(), recheckAt: new Date(recheckAt).toISOString(), note: 'waiting, not retrying: no attempt is spent' };
}
