// Every id a mail is known by, derived here and nowhere else (issue 25): one MailRef is made at
// intake from the mail's mailbox position, its content hash and its Message-ID, and each job
// id, ledger key and audit subject comes from it.
//
//   what                      form (as stored today: queued jobs, the ledger and Jira hold it)
//   mail key                  the Message-ID without <>, or `sha256:<hash>` without one
//   ledger key                the mail key; `<key>#sha256:<hash>` for a second mail that reuses
//                             a Message-ID with other bytes (also the `mailroom.message` id)
//   audit subject             the mail key; for a mail without Message-ID its inbound job id
//   mail-inbound job          `<mailbox>:<uidvalidity>:<uid>` (IMAP) or `<hash>` (a file);
//                             `<mailbox>:<uidvalidity>~<epoch>:<uid>` once UIDs were reused
//   jira-deliver job          `deliver|<mailbox>|<Message-ID as written, or hash>`, `|<hash>`
//                             added for a second mail under one Message-ID
//   mailbox-actions job       `action|<mailbox>|<uidvalidity>|<uid>`;
//                             `action|<mailbox>|<uidvalidity>~<epoch>|<uid>` once UIDs were reused
//
// Job ids of every queue are `|`-joined parts with ':' written '_' (jobId below), except the
// mail-inbound id, which predates the rule: it is the dedupe key of IMAP re-reads, so a new
// form would make a mail read before an upgrade and again after it two jobs. The forms are kept
// as they are for the same reason (recovery and the reply loop match stored ids), and
// `mailroom audit` takes any of them (auditForms).
import type { MailRecord } from './record.js';

/** The largest UID IMAP has (a 32-bit number, RFC 3501 2.3.1.1): a mail's position is at most this. */
export const MAX_IMAP_UID = 4294967295;

/** `<abc@host>` and `abc@host` name the same mail. */
export function normalizeMessageId(id: string): string {
  return id.trim().replace(/^<+/, '').replace(/>+$/, '').trim();
}

/** The id a mail is known by in the ledger and the audit trail (mailKeyOf, from its record). */
export function mailKey(record: Pick<MailRecord, 'messageId' | 'rawRef'>): string {
  return mailKeyOf({ messageId: record.messageId, sha256: record.rawRef.sha256 });
}

export type MailPosition = { kind: 'imap'; uidvalidity: string; uid: number; epoch?: string } | { kind: 'file'; name?: string };

export interface MailRef {
  mailboxId: string;
  position: MailPosition;
  /** sha256 of the raw bytes. */
  sha256: string;
  /** The Message-ID as the mail wrote it (with or without <>), when it has one. */
  messageId?: string;
}

/** The ref of a mail as jobs carry it (mailbox, origin, record). */
export function mailRef(d: { mailboxId: string; origin: MailPosition; record: Pick<MailRecord, 'messageId' | 'rawRef'> }): MailRef {
  return { mailboxId: d.mailboxId, position: d.origin, sha256: d.record.rawRef.sha256, ...(d.record.messageId ? { messageId: d.record.messageId } : {}) };
}

/**
 * One separator scheme for job ids: parts joined with `|`, ':' written '_'. BullMQ refuses a
 * custom id with ':' unless it splits into exactly three parts (kept for its old repeatable
 * jobs; the mail-inbound id fits that exception), so no stored id can hold another ':'.
 */
export function jobId(...parts: (string | number)[]): string {
  return parts.map(String).join('|').replace(/:/g, '_');
}

/** The key of the ledger and the audit trail: the Message-ID, or the raw bytes' hash without one. */
export function mailKeyOf(ref: { messageId?: string | undefined; sha256: string }): string {
  const id = ref.messageId ? normalizeMessageId(ref.messageId) : '';
  return id || `sha256:${ref.sha256}`;
}

/** The ledger key: the mail key, or with the hash when another mail with other bytes holds that Message-ID already. */
export function ledgerKeyOf(ref: { messageId?: string | undefined; sha256: string }, firstSha256: string | undefined): string {
  const base = mailKeyOf(ref);
  return ref.messageId && firstSha256 && firstSha256 !== ref.sha256 ? `${base}#sha256:${ref.sha256}` : base;
}

/** Whose audit trail a mail's steps go into: its Message-ID key, else its inbound job id (what the resolver wrote first). */
export function auditSubjectOf(ref: MailRef): string {
  return ref.messageId && normalizeMessageId(ref.messageId) ? normalizeMessageId(ref.messageId) : inboundJobId(ref);
}

/** The mail-inbound job id: the mail's mailbox position (IMAP), or its hash (a file). */
export function inboundJobId(ref: Pick<MailRef, 'mailboxId' | 'position' | 'sha256'>): string {
  if (ref.position.kind !== 'imap') return ref.sha256;
  // After the server gave out UIDs again under one UIDVALIDITY: `<uidvalidity>~<epoch>`.
  const epoch = ref.position.epoch ? `~${ref.position.epoch}` : '';
  return `${ref.mailboxId}:${ref.position.uidvalidity}${epoch}:${ref.position.uid}`;
}

/** The jira-deliver job id; `otherContent` for a second mail repeating a Message-ID with other bytes. */
export function deliverJobId(ref: Pick<MailRef, 'mailboxId' | 'messageId' | 'sha256'>, otherContent = false): string {
  const base = `deliver|${ref.mailboxId}|${(ref.messageId ?? ref.sha256).replace(/:/g, '_')}`;
  return otherContent ? `${base}|${ref.sha256}` : base;
}

/**
 * The mailbox-actions job id of the message at this position. The epoch (imap/cursor.ts) as in the
 * inbound job id: a mail at a reused UID is not the one whose (kept) action job had it before.
 */
export function actionJobId(mailboxId: string, uidvalidity: string, uid: number, epoch?: string): string {
  return jobId('action', mailboxId, epoch ? `${uidvalidity}~${epoch}` : uidvalidity, uid);
}

/** The Message-ID (with <>) a ledger key or `mailroom.message` id names, if it names one (not a bare hash). */
export function messageIdOfKey(key: string): string | undefined {
  if (!key || key.startsWith('sha256:')) return undefined;
  const id = key.split('#sha256:')[0];
  return id ? `<${id}>` : undefined;
}

/**
 * The audit subjects a person may type for one mail, for `mailroom audit`: a Message-ID with or
 * without <>, `sha256:<hash>` or the bare hash, an inbound job id, a deliver job id. Which
 * exist is for the trail to say; each form maps to the key its steps were written under.
 */
export function auditForms(input: string): string[] {
  const s = input.trim();
  const forms = new Set<string>([normalizeMessageId(s)]);
  if (/^[a-f0-9]{64}$/i.test(s)) forms.add(`sha256:${s.toLowerCase()}`);
  const sha = /^sha256:([a-f0-9]{64})$/i.exec(s);
  if (sha) forms.add(sha[1]!.toLowerCase());
  const deliver = /^deliver\|[^|]+\|([^|]+)(?:\|[a-f0-9]{64})?$/.exec(s);
  // The deliver id wrote ':' as '_' (lossy); the Message-ID and the hash forms are both tried.
  if (deliver) for (const f of auditForms(deliver[1]!)) forms.add(f);
  return [...forms].filter(Boolean);
}
