// A bounce of a mail Mailroom sent (an acknowledgement, an agent's comment mailed to a
// customer) becomes an internal note on its issue; every other bounce gets nothing, as before.
// The bounce itself is never answered (no backscatter): this only queues a `respond` job of
// kind `bounce`, which writes the note and mails nobody (src/respond/bounce-note.ts).
//
// Whose mail it was is decided by the delivery ledger ONLY: the returned mail's Message-ID must
// be one the responder recorded as sent (`respondedTo`). A report's other claims (recipient,
// status, diagnostic) are shown as claims. Those Message-IDs are random, so a forger can aim a
// fake report at an issue only with an id they saw (they received our mail, or someone passed it
// on); then they can add at most MAX_NOTES_PER_MAIL notes per mail of ours, each bounded text.
import { createHash } from 'node:crypto';
import { key, type Redis } from '../core/redis.js';
import { createLedger, type LedgerEntry } from '../ledger/ledger.js';
import { mailKey, normalizeMessageId } from '../mail/id.js';
import { respond } from '../queues/catalog.js';
import type { ResolveRun } from './resolve-run.js';

/** Notes per mail of ours, at most, however many reports name it (a real one rarely has 2). */
export const MAX_NOTES_PER_MAIL = 3;
// As long as the outbox keeps a sent mail's record: a report weeks late is rare, and the count
// must outlive the reports it counts.
const CAP_TTL_S = 30 * 24 * 3600;

export function bouncedKey(prefix: string, ourId: string): string {
  return key(prefix, 'respond', 'bounced', ourKeyOf(ourId));
}

/** sha256 of our Message-ID: keys and job ids name our mail without carrying its id. */
export function ourKeyOf(ourId: string): string {
  return createHash('sha256').update(normalizeMessageId(ourId)).digest('hex');
}

// KEYS[1] = the set of reports noted for one mail of ours; ARGV = the report's key, max, ttl.
// A report already counted (a re-run of its job) passes again; a new one only below max.
const TAKE = `
if redis.call('sismember', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('scard', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('sadd', KEYS[1], ARGV[1])
redis.call('expire', KEYS[1], ARGV[3])
return 1`;

export async function takeNote(redis: Redis, prefix: string, ourId: string, report: string, max = MAX_NOTES_PER_MAIL): Promise<boolean> {
  return Number(await redis.eval(TAKE, 1, bouncedKey(prefix, ourId), report, String(max), String(CAP_TTL_S))) === 1;
}

/** What Mailroom had sent, from the responder's job id (src/queues/catalog.ts, `respond`). */
export function sentOf(e: LedgerEntry): { kind: 'acknowledge' | 'comment' | 'other'; commentId?: string } {
  const parts = e.jobId.split('|');
  if (parts[0] === 'respond' && parts[1] === 'acknowledge') return { kind: 'acknowledge' };
  if (parts[0] === 'respond' && parts[1] === 'comment' && /^\d{1,30}$/.test(parts[3] ?? '')) return { kind: 'comment', commentId: parts[3]! };
  return { kind: 'other' };
}

/** Called for every mail classified `bounce`: queues the note when the returned mail was ours. */
export async function askBounceNote(run: ResolveRun): Promise<void> {
  const { record, p, base, sender, audit } = run;
  // Entries are under the bounce mail and the customer's address (`mailroom audit <address>`).
  const b = record.bounce;
  if (!b?.ids.length) return; // names no mail: an ordinary bounce
  const ledger = createLedger(p.redis, p.prefix);
  let ours: { id: string; entry: LedgerEntry } | undefined;
  for (const id of b.ids) {
    const entry = await ledger.get(normalizeMessageId(id));
    if (entry?.respondedTo) {
      ours = { id, entry };
      break;
    }
  }
  if (!ours) return; // not a mail Mailroom sent: nothing, whatever else it claims
  const skip = (detail: string) => audit.record({ ...base, email: ours.entry.respondedTo, step: 'bounce-noted', outcome: 'skipped', jira: ours.entry.issueKey, detail });
  if (b.standard && !b.recipients.some((r) => r.action === 'failed')) {
    return skip(`a delivery report for Mailroom's mail to ${ours.entry.respondedTo} with no failed recipient (${b.recipients.map((r) => r.action).join(', ') || 'none named'}): a delay or a success, not noted`);
  }
  const report = mailKey(record);
  if (!(await takeNote(p.redis, p.prefix, ours.id, report))) {
    return skip(`Mailroom's mail to ${ours.entry.respondedTo} already has ${MAX_NOTES_PER_MAIL} bounce notes on ${ours.entry.issueKey}: no more`);
  }
  await run.ctx.add(respond, {
    kind: 'bounce',
    mailboxId: ours.entry.mailboxId,
    issueKey: ours.entry.issueKey,
    bounceMail: report.slice(0, 300),
    ourKey: ourKeyOf(ours.id),
    sent: { ...sentOf(ours.entry), to: ours.entry.respondedTo!, at: ours.entry.at.slice(0, 40) },
    recipients: b.recipients,
    ...(sender ? { reporter: sender.slice(0, 320) } : {}),
    ...(record.date ? { reportedAt: record.date } : {}),
  });
  run.ctx.log.info({ issueKey: ours.entry.issueKey }, 'a bounce of Mailroom\'s own mail: internal note queued');
}
