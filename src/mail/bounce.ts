// What a delivery report says went wrong, and with which mail: read from the parts mailparser
// hands over (it keeps `message/delivery-status` and the returned mail apart as parts and reads
// neither). Only for mail the classifier called a bounce; the result rides in the record
// (`bounce`), small and bounded, so the resolver can tell whether the returned mail was one
// Mailroom sent (src/identity/bounce.ts). Everything here is the report's CLAIM: the ledger is
// what decides whether the mail was ours.
//
// - RFC 3464 reports: per-recipient blocks of the `message/delivery-status` part (Final-Recipient,
//   Action, Status, Diagnostic-Code); the returned mail's Message-ID from its `message/rfc822`
//   or `text/rfc822-headers` part (RFC 6522; RFC 6533's global forms too).
// - Reports without that structure (Postfix's "Undelivered Mail Returned to Sender" without a
//   status part, qmail's "failure notice" with the mail inline): the failed recipients from
//   X-Failed-Recipients, the returned Message-ID from an enclosed message or, failing that, from a
//   `Message-ID:` line in the text (read from its first 64 KB only).
import { DSN_LIMITS, fieldOf, parseHeaderBlocks, type HeaderField } from './header-block.js';
import type { BounceReport, BounceRecipient } from './record.js';
import { ADDRESS_CHARS, ID_CHARS } from './record-bound.js';

export interface BouncePart {
  contentType: string;
  content: Buffer | string;
}

const MAX_IDS = 3;
const MAX_RECIPIENTS = 3;
const DIAGNOSTIC_CHARS = 300;
const TEXT_SCAN_CHARS = 64 * 1024;
/** Bytes of an enclosed part looked at: the returned mail's header is at its start. */
const PART_SCAN_BYTES = 64 * 1024;

const STATUS_PARTS = new Set(['message/delivery-status', 'message/global-delivery-status']);
const RETURNED_PARTS = new Set(['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/global-headers']);

export function readBounce(parts: readonly BouncePart[], o: { text?: string; failedRecipients?: string } = {}): BounceReport {
  const cut = new Set<string>();
  const recipients: BounceRecipient[] = [];
  let hasStatus = false;
  for (const part of parts) {
    if (!STATUS_PARTS.has(part.contentType.toLowerCase())) continue;
    hasStatus = true;
    if (part.content.length > PART_SCAN_BYTES) cut.add('chars');
    const parsed = parseHeaderBlocks(textOf(part.content), DSN_LIMITS);
    parsed.cut.forEach((c) => cut.add(c));
    // The first block is about the message (Reporting-MTA, Arrival-Date); the rest, one per recipient.
    for (const block of parsed.blocks.slice(1)) {
      const r = recipientOf(block);
      if (!r) continue;
      if (recipients.length >= MAX_RECIPIENTS) {
        cut.add('recipients');
        break;
      }
      recipients.push(r);
    }
  }
  if (!hasStatus && o.failedRecipients) {
    // No status part: a report without RFC 3464's structure says only who failed.
    for (const a of o.failedRecipients.split(',').map(address).filter((x) => x)) {
      if (recipients.length >= MAX_RECIPIENTS) {
        cut.add('recipients');
        break;
      }
      recipients.push({ recipient: a, action: 'failed' });
    }
  }
  const ids = returnedIds(parts, o.text ?? '');
  return {
    ids: ids.slice(0, MAX_IDS),
    recipients,
    standard: hasStatus,
    ...(ids.length > MAX_IDS ? { cut: [...cut, 'ids'] } : cut.size ? { cut: [...cut] } : {}),
  };
}

/** A recipient block: who (Final-Recipient, else Original-Recipient), what happened, why. */
function recipientOf(block: readonly HeaderField[]): BounceRecipient | undefined {
  const who = fieldOf(block, 'final-recipient') ?? fieldOf(block, 'original-recipient');
  if (who === undefined) return undefined;
  const action = (fieldOf(block, 'action') ?? '').toLowerCase().split(/[\s(]/)[0] ?? '';
  const status = /^\s*([245]\.\d{1,3}\.\d{1,3})/.exec(fieldOf(block, 'status') ?? '')?.[1];
  const diagnostic = fieldOf(block, 'diagnostic-code');
  return {
    // `rfc822; nora@example.com`: the address type first.
    recipient: address(who.includes(';') ? who.slice(who.indexOf(';') + 1) : who) || '(unreadable)',
    action: /^[a-z]{1,20}$/.test(action) ? action : 'unknown',
    ...(status ? { status } : {}),
    ...(diagnostic ? { diagnostic: plainText(diagnostic, DIAGNOSTIC_CHARS) } : {}),
  };
}

/** Message-IDs of the returned mail: enclosed parts first, then `Message-ID:` lines in the text. */
function returnedIds(parts: readonly BouncePart[], text: string): string[] {
  const ids: string[] = [];
  const add = (v: string | undefined) => {
    const id = v && /<([^<>\s]{1,250})>/.exec(v)?.[1];
    if (id && !ids.includes(id)) ids.push(id.slice(0, ID_CHARS));
  };
  for (const part of parts) {
    if (!RETURNED_PARTS.has(part.contentType.toLowerCase())) continue;
    // The returned mail's own header is the first block; its body is never read.
    const head = parseHeaderBlocks(textOf(part.content), { ...DSN_LIMITS, maxBlocks: 1 }).blocks[0] ?? [];
    add(fieldOf(head, 'message-id'));
    if (ids.length > MAX_IDS) break;
  }
  if (!ids.length) {
    for (const m of text.slice(0, TEXT_SCAN_CHARS).matchAll(/^[ \t>]*message-id:[ \t]*(<[^<>\s]{1,250}>)/gim)) {
      add(m[1]);
      if (ids.length > MAX_IDS) break;
    }
  }
  return ids;
}

function textOf(content: Buffer | string): string {
  return typeof content === 'string' ? content.slice(0, PART_SCAN_BYTES) : content.subarray(0, PART_SCAN_BYTES).toString('utf8');
}

function address(s: string): string {
  return s.trim().replace(/^<|>$/g, '').trim().toLowerCase().slice(0, ADDRESS_CHARS).replace(/[^\x21-\x7e\u00a0-\uffff]/g, '');
}

/** A remote server's words, for a person to read in a note: one line, no control characters, bounded. */
export function plainText(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const one = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]+/g, ' ').replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
