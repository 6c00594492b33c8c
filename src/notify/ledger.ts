// Per-recipient outcomes of one notification, in Redis: a hash per event id, one field per
// address. A retry (after a crash, an SMTP outage or a partial failure) reads it first and
// sends only to addresses with no final outcome, so nobody is mailed twice for one event.
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';

export type RecipientOutcome =
  /** Accepted by the SMTP server. */
  | { state: 'sent'; at: string; messageId?: string }
  /** Refused for good (5xx): not tried again. */
  | { state: 'failed'; at: string; why: string }
  /** Refused for now (4xx, server down): the next attempt tries again. */
  | { state: 'deferred'; at: string; why: string; tries: number };

/** Final outcomes: a retry leaves these recipients alone. */
export function isFinal(o: RecipientOutcome | undefined): boolean {
  return o?.state === 'sent' || o?.state === 'failed';
}

/**
 * Kept well past the queue's whole retry window (12 attempts capped at 10 min, about 1.5 h)
 * and past BullMQ's removal of completed jobs (24 h), so a webhook Jira replays a day later
 * still finds who was mailed.
 */
export const LEDGER_TTL_S = 30 * 24 * 3600;

export function ledgerKey(prefix: string, eventId: string): string {
  return key(prefix, 'notify', 'outcome', eventId);
}

export interface Ledger {
  read(): Promise<Map<string, RecipientOutcome>>;
  record(outcomes: Record<string, RecipientOutcome>): Promise<void>;
}

export function openLedger(redis: Redis, prefix: string, eventId: string): Ledger {
  const k = ledgerKey(prefix, eventId);
  return {
    async read() {
      const raw = await redis.hgetall(k);
      const out = new Map<string, RecipientOutcome>();
      for (const [email, v] of Object.entries(raw)) {
        try {
          out.set(email, JSON.parse(v) as RecipientOutcome);
        } catch {
          // An unreadable entry counts as no outcome: the recipient is tried again.
        }
      }
      return out;
    },
    async record(outcomes) {
      const fields = Object.entries(outcomes).flatMap(([email, o]) => [email, JSON.stringify(o)]);
      if (!fields.length) return;
      await redis.multi().hset(k, ...fields).expire(k, LEDGER_TTL_S).exec();
    },
  };
}
