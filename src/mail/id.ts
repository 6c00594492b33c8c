// The ids of one mail. Its Message-ID, written with or without angle brackets, is the key of
// the ledger, the audit trail and the deliver job (mail without one is known by its raw bytes'
// sha256); the Message-IDs it answers say which thread it joins. The mail-inbound job id is its
// mailbox position instead (src/queues/catalog.ts), and a second mail repeating a Message-ID
// with other bytes gets its hash added (src/identity/mail-identity.ts).
import type { MailRecord } from './record.js';

/** `<abc@host>` and `abc@host` name the same mail. */
export function normalizeMessageId(id: string): string {
  return id.trim().replace(/^<+/, '').replace(/>+$/, '').trim();
}

/** The id a mail is known by in the ledger: its Message-ID, or its raw bytes' hash when it has none. */
export function mailKey(record: Pick<MailRecord, 'messageId' | 'rawRef'>): string {
  const id = record.messageId ? normalizeMessageId(record.messageId) : '';
  return id || `sha256:${record.rawRef.sha256}`;
}

/** Message-IDs this mail answers, nearest first: In-Reply-To, then References from the end. */
export function threadIds(record: Pick<MailRecord, 'inReplyTo' | 'references'>): string[] {
  const ids = [record.inReplyTo, ...[...record.references].reverse()].filter((x): x is string => !!x).map(normalizeMessageId);
  return [...new Set(ids.filter(Boolean))];
}
