// The record of every mail sent to a customer, like the notifier's outcomes
// (src/notify/ledger.ts): one hash per respond job, one field per recipient. A retry (crash,
// SMTP outage, 4xx) reads it first and sends only what has no final outcome. The outbound
// Message-ID also goes into the delivery ledger (src/ledger/ledger.ts) before the mail leaves, so
// the customer's answer threads back to the issue through the ordinary reply path, even when
// its subject lost the key.
import { randomBytes } from 'node:crypto';
import { key, type Redis } from '../core/redis.js';
import { createLedger } from '../ledger/ledger.js';
import { normalizeMessageId } from '../mail/id.js';
import { LEDGER_TTL_S, type RecipientOutcome } from '../notify/ledger.js';

export type CustomerMailOutcome = RecipientOutcome | { state: 'skipped'; at: string; why: string };

export function outboxKey(prefix: string, jobId: string): string {
  return key(prefix, 'respond', 'outcome', jobId);
}

/**
 * The hash field that keeps the job's data beside its outcomes, as long as they are kept
 * (LEDGER_TTL_S, 30 days): what `mailroom respond resend` queues again. Addresses, the issue key,
 * the customer's subject and Message-IDs: nothing secret. No address contains no `@`-less
 * "job", so it never meets a recipient's field.
 */
export const JOB_FIELD = 'job';

/** The job data kept for the respond job `jobId`, unparsed (a caller checks it against the queue's schema). */
export async function keptJob(redis: Redis, prefix: string, jobId: string): Promise<unknown> {
  const v = await redis.hget(outboxKey(prefix, jobId), JOB_FIELD);
  if (!v) return undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return undefined;
  }
}

export function isDone(o: CustomerMailOutcome | undefined): boolean {
  return o?.state === 'sent' || o?.state === 'failed' || o?.state === 'skipped';
}

export interface Outbox {
  /** Keep the job's data (for a resend by hand). */
  keep(data: unknown): Promise<void>;
  read(to: string): Promise<CustomerMailOutcome | undefined>;
  /**
   * The Message-ID of the mail to `to`: made once (random, so nobody who did not receive the
   * mail can name it in an In-Reply-To and pass as the customer), then the same on every retry,
   * so a resend after a crash is the same message and mail clients fold it.
   */
  messageId(to: string, domain: string): Promise<string>;
  record(to: string, o: CustomerMailOutcome): Promise<void>;
  /** Our Message-ID names the issue in the delivery ledger, and whom we wrote (reply-trust). */
  thread(o: { messageId: string; issueKey: string; mailboxId: string; jobId: string; to: string }): Promise<void>;
}

export function openOutbox(redis: Redis, prefix: string, jobId: string): Outbox {
  const k = outboxKey(prefix, jobId);
  const ledger = createLedger(redis, prefix);
  return {
    async keep(data) {
      await redis.multi().hset(k, JOB_FIELD, JSON.stringify(data)).expire(k, LEDGER_TTL_S).exec();
    },
    async read(to) {
      const v = await redis.hget(k, to.toLowerCase());
      if (!v) return undefined;
      try {
        return JSON.parse(v) as CustomerMailOutcome;
      } catch {
        return undefined; // unreadable: tried again
      }
    },
    async messageId(to, domain) {
      const field = `mid|${to.toLowerCase()}`;
      await redis.multi().hsetnx(k, field, `<mailroom.r.${randomBytes(16).toString('hex')}@${domain}>`).expire(k, LEDGER_TTL_S).exec();
      return (await redis.hget(k, field))!;
    },
    async record(to, o) {
      await redis.multi().hset(k, to.toLowerCase(), JSON.stringify(o)).expire(k, LEDGER_TTL_S).exec();
    },
    async thread(o) {
      await ledger.put(normalizeMessageId(o.messageId), {
        kind: 'issue',
        issueKey: o.issueKey,
        mailboxId: o.mailboxId,
        jobId: o.jobId,
        at: new Date().toISOString(),
        respondedTo: o.to.toLowerCase(),
      });
    },
  };
}
