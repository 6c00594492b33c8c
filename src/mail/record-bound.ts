// The bounds every MailRecord keeps, and the record of a mail that could not be parsed. Kept
// apart from parse.ts (and mailparser) so a process that parses in worker threads can still
// make an `unparseable` record on its own thread without loading the parser.
import { domainToUnicode } from 'node:url';
import { MAX_RECORD_BYTES, type MailRecord, type RawRef } from './record.js';

export const SUBJECT_CHARS = 500;
export const NAME_CHARS = 200;
export const ADDRESS_CHARS = 320; // RFC 5321: 64 local + @ + 255 domain
export const ID_CHARS = 250;

export function normalizeAddress(address: string): string {
  const a = address.trim().replace(/^<|>$/g, '').toLowerCase();
  const at = a.lastIndexOf('@');
  if (at < 0) return a.slice(0, ADDRESS_CHARS);
  const domain = a.slice(at + 1);
  const unicode = domain.includes('xn--') ? domainToUnicode(domain) || domain : domain;
  return (a.slice(0, at) + '@' + unicode).slice(0, ADDRESS_CHARS);
}

/** Slice to at most n UTF-16 units without splitting a surrogate pair. */
export function cutChars(s: string, n: number): string {
  if (s.length <= n) return s;
  const code = s.charCodeAt(n - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

export function clipId(id: string): string {
  return cutChars(id.trim(), ID_CHARS);
}

export function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/**
 * Whatever the mail, its JSON fits MAX_RECORD_BYTES: cut the least useful parts first (the
 * excerpt's tail, the attachment list, recipients, references, headers), flagging each.
 */
export function bound(record: MailRecord): MailRecord {
  const size = (r: MailRecord) => Buffer.byteLength(JSON.stringify(r));
  if (size(record) <= MAX_RECORD_BYTES) return record;
  const r: MailRecord = { ...record, truncated: [...(record.truncated ?? [])] };
  const flag = (what: string) => {
    if (!r.truncated!.includes(what)) r.truncated!.push(what);
  };
  const shrinkText = (floor: number) => () => {
    if (r.text.length <= floor) return false;
    // Shrink in proportion to the overshoot, then a bit more; text is usually the bulk.
    const over = size(r) - MAX_RECORD_BYTES;
    const bytesPerChar = Buffer.byteLength(r.text) / r.text.length;
    r.text = cutChars(r.text, Math.max(floor, r.text.length - Math.ceil(over / bytesPerChar) - 64));
    r.textTruncated = true;
    return true;
  };
  // In order: what the pipeline can best do without goes first. Participants beyond ten are
  // never resolved (policy caps them), and attachments are read from the raw source anyway.
  const steps: (() => boolean)[] = [
    shrinkText(2000),
    () => shrinkList(r, 'attachments', 10, () => (r.attachmentsTruncated = true)),
    () => shrinkList(r, 'cc', 10, () => flag('cc')),
    () => shrinkList(r, 'to', 10, () => flag('to')),
    () => shrinkList(r, 'replyTo', 3, () => flag('replyTo')),
    () => shrinkList(r, 'references', 5, () => flag('references')),
    shrinkText(500),
    () => {
      if (!Object.values(r.headers).some((v) => v.length > 64)) return false;
      r.headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.slice(0, 64)]));
      flag('headers');
      return true;
    },
    () => {
      if (r.subject.length <= 100) return false;
      r.subject = cutChars(r.subject, 100);
      flag('subject');
      return true;
    },
    shrinkText(0),
    () => {
      // Last resort: nothing but the pointer, ids, sender and classification.
      if (!r.attachments.length && !r.to.length && !r.cc.length && !r.replyTo.length && !r.references.length) return false;
      r.attachments = [];
      r.attachmentsTruncated = true;
      r.to = [];
      r.cc = [];
      r.replyTo = [];
      r.references = [];
      ['to', 'cc', 'replyTo', 'references'].forEach(flag);
      return true;
    },
  ];
  for (const step of steps) {
    while (size(r) > MAX_RECORD_BYTES && step()) {
      /* keep cutting */
    }
    if (size(r) <= MAX_RECORD_BYTES) break;
  }
  return r;
}

function shrinkList(r: MailRecord, key: 'attachments' | 'cc' | 'to' | 'replyTo' | 'references', floor: number, onCut: () => void): boolean {
  const list = r[key] as unknown[];
  if (list.length <= floor) return false;
  (r as unknown as Record<string, unknown[]>)[key] = list.slice(0, Math.max(floor, Math.floor(list.length / 2)));
  onCut();
  return true;
}

/**
 * The record of a mail that could not be parsed: still stored, still a result. The little we
 * can read from its header lines without a MIME parser is kept, to help whoever looks at it.
 */
export function unparseable(raw: Buffer, rawRef: RawRef, reason: string): MailRecord {
  const h = scanHeaders(raw);
  const subject = cutChars(oneLine(h.subject ?? ''), SUBJECT_CHARS);
  const fromMatch = /<([^<>\s]+@[^<>\s]+)>|([^\s<>"]+@[^\s<>",;]+)/.exec(h.from ?? '');
  const from = fromMatch ? normalizeAddress(fromMatch[1] ?? fromMatch[2] ?? '') : undefined;
  const parseError = cutChars(reason, 1000);
  return bound({
    v: 1,
    rawRef,
    ...(h['message-id'] ? { messageId: clipId(h['message-id']) } : {}),
    references: [],
    subject,
    ...(from ? { from: { address: from } } : {}),
    replyTo: [],
    to: [],
    cc: [],
    text: '',
    textTruncated: false,
    fromHtml: false,
    attachments: [],
    attachmentsTruncated: false,
    headers: {},
    classification: { kind: 'unparseable', reason: parseError },
    parseError,
  });
}

/** A minimal header reader for the unparseable path: unfolds lines up to the first blank one. */
function scanHeaders(raw: Buffer): Record<string, string> {
  const head = raw.subarray(0, 64 * 1024).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const out: Record<string, string> = {};
  const unfolded = (end >= 0 ? head.slice(0, end) : head).replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const m = /^([!-9;-~]+):\s*(.*)$/.exec(line);
    if (m && !(m[1]!.toLowerCase() in out)) out[m[1]!.toLowerCase()] = m[2]!.slice(0, 1000);
  }
  return out;
}
