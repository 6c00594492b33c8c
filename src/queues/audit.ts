// The audit trail: every step the pipeline takes for an email and for a mail (what, when, with
// which token account, and what Jira answered), so "why does this person have an account?" and
// "what happened to this mail?" have answers. Redis streams, one per email and one per mail,
// each capped in length and expiring some time after its last entry.
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';
import { normalizeMessageId } from '../mail/id.js';

export interface AuditEvent {
  /** ISO 8601. */
  at: string;
  /** What happened, e.g. lookup, decision, provision-queued, create-user, add-to-group, account-ready, deliver-queued. */
  step: string;
  /** ok | error | skipped | held | waiting ... : the result of the step in one word. */
  outcome: string;
  email?: string;
  /** The mail's Message-ID (without <>), or its job id when it has none. */
  mail?: string;
  mailboxId?: string;
  /** The workaround token's account the step ran as. */
  tokenAccount?: string;
  /** A short summary of Jira's answer (account id, status, error text). Never a secret. */
  jira?: string;
  detail?: string;
}

export type AuditInput = Omit<AuditEvent, 'at'> & { at?: string };

export interface AuditTrail {
  record(ev: AuditInput): Promise<void>;
  /** Events for an email address or a Message-ID (or mail job id), oldest first. */
  read(subject: string, opts?: { limit?: number }): Promise<AuditEvent[]>;
}

export interface AuditOptions {
  redis: Redis;
  prefix: string;
  /** Entries kept per email or mail (approximate: Redis trims whole nodes). */
  maxPerSubject?: number;
  /** How long a subject's trail outlives its last entry. */
  retentionMs?: number;
}

export function auditKeys(prefix: string, subject: string): { email: string; mail: string } {
  return {
    email: key(prefix, 'audit', 'email', subject.trim().toLowerCase()),
    mail: key(prefix, 'audit', 'mail', normalizeMessageId(subject)),
  };
}

// 500 entries: a busy sender's trail over weeks, without letting one flood fill Redis.
const DEFAULT_MAX = 500;
// 30 days: long enough to answer "why" questions about last month's accounts.
const DEFAULT_RETENTION_MS = 30 * 24 * 3600 * 1000;

// One script call per event, whatever it names: a MULTI of XADD + PEXPIRE per stream was six
// commands for the usual email-and-mail event, and a new sender's path records eight events.
// KEYS: the streams (one slot, as every key of the install); ARGV: cap, retention ms, entry.
const RECORD = `for _, k in ipairs(KEYS) do
  redis.call('XADD', k, 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[3])
  redis.call('PEXPIRE', k, ARGV[2])
end
return #KEYS`;

export function createAuditTrail(opts: AuditOptions): AuditTrail {
  const max = opts.maxPerSubject ?? DEFAULT_MAX;
  const retention = opts.retentionMs ?? DEFAULT_RETENTION_MS;
  return {
    async record(input) {
      const ev: AuditEvent = { ...input, at: input.at ?? new Date().toISOString() };
      const json = JSON.stringify(ev);
      const targets: string[] = [];
      if (ev.email) targets.push(auditKeys(opts.prefix, ev.email).email);
      if (ev.mail) targets.push(auditKeys(opts.prefix, ev.mail).mail);
      if (!targets.length) return;
      await opts.redis.eval(RECORD, targets.length, ...targets, String(max), String(retention), json);
    },
    async read(subject, o = {}) {
      const keys = auditKeys(opts.prefix, subject);
      const [byEmail, byMail] = await Promise.all([opts.redis.xrange(keys.email, '-', '+'), opts.redis.xrange(keys.mail, '-', '+')]);
      const seen = new Set<string>();
      const events: AuditEvent[] = [];
      for (const [, fields] of [...byEmail, ...byMail]) {
        const i = fields.indexOf('e');
        const raw = i >= 0 ? fields[i + 1] : undefined;
        if (!raw || seen.has(raw)) continue; // an event about this email in this mail is in both streams
        seen.add(raw);
        try {
          events.push(JSON.parse(raw) as AuditEvent);
        } catch {
          // skip an entry that is not ours
        }
      }
      events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
      return o.limit ? events.slice(-o.limit) : events;
    },
  };
}
