// Raw RFC 822 bytes -> the compact MailRecord that travels in jobs. Never throws: a mail the
// parser cannot make sense of becomes `unparseable` with the reason, because dropping a mail
// is worse than a ticket nobody could read. The record's JSON stays within MAX_RECORD_BYTES
// whatever the mail, cutting the least useful parts first and saying what was cut.
import { domainToUnicode } from 'node:url';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { compactAuthResults, MAX_AUTH_RESULTS } from './auth-results.js';
import { CLASSIFY_HEADERS, classify } from './classify.js';
import { htmlToText } from './html-text.js';
import { MAX_RECORD_BYTES, type Address, type AttachmentMeta, type MailRecord, type RawRef } from './record.js';

export interface ParseOptions {
  /**
   * Bytes handed to the parser at most. Bigger mails (the rest is almost always attachments)
   * are parsed from their head only and flagged `parse-input`; the raw source stays whole in
   * the store. 8 MiB parses in well under a second here (~13 MB/s, see bench/parse.ts), which
   * bounds how long one mail can hold the event loop.
   */
  maxParseBytes?: number;
  /** A parse that has not finished after this long is given up (a stuck stream, not a busy CPU). */
  timeoutMs?: number;
}

export const DEFAULT_MAX_PARSE_BYTES = 8 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

// Limits before the final size check; generous enough for ordinary mail, small enough that
// the JSON rarely needs the slower shrink loop below.
const TEXT_CHARS = 4000;
const SUBJECT_CHARS = 500;
const NAME_CHARS = 200;
const ADDRESS_CHARS = 320; // RFC 5321: 64 local + @ + 255 domain
const ID_CHARS = 250;
const HEADER_VALUE_CHARS = 256;
const MAX_ADDRESSES = 50;
const MAX_REFERENCES = 20;
const MAX_ATTACHMENTS = 50;
const HTML_SCAN_CHARS = 256 * 1024;

/**
 * mailparser with only what Mailroom uses: its defaults turn HTML into text, text into HTML,
 * linkify and inline cid: images as data: URLs — most of its time, none of it used here
 * (design.md: ~3.4x faster). Attachment checksums are skipped: the raw store is content-addressed.
 */
export const LEAN_PARSER_OPTIONS = {
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  skipImageLinks: true,
  keepCidLinks: true,
  checksumAlgo: false as const,
};

const PARSER_OPTIONS = {
  ...LEAN_PARSER_OPTIONS,
  // Keep delivery-status parts apart from the text (classification reads their type), and do
  // not descend into enclosed messages (a bounce's returned mail is not this mail's text).
  keepDeliveryStatus: true,
  ignoreEmbedded: true,
};

export async function parseMail(raw: Buffer, rawRef: RawRef, opts: ParseOptions = {}): Promise<MailRecord> {
  const maxBytes = opts.maxParseBytes ?? DEFAULT_MAX_PARSE_BYTES;
  const truncated = new Set<string>();
  let input = raw;
  if (raw.length > maxBytes) {
    input = headOf(raw, maxBytes);
    truncated.add('parse-input');
  }
  if (input.indexOf(0x0a) < 0 && input.indexOf(0x0d) >= 0) {
    // Bare-CR line ends (classic Mac OS) are invisible to mailparser, which then reads the
    // whole mail as one header line. Only the parser's copy changes; the stored raw does not.
    input = Buffer.from(input.toString('latin1').replace(/\r/g, '\r\n'), 'latin1');
  }
  let parsed: ParsedMail;
  try {
    parsed = await withTimeout(simpleParser(input, PARSER_OPTIONS), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  } catch (e) {
    return unparseable(raw, rawRef, `mailparser failed: ${message(e)}`);
  }
  if (!parsed.headerLines.some((h) => h.key !== '')) {
    // Empty files, binary junk, a body without a header: nothing to thread, answer or route.
    return unparseable(raw, rawRef, raw.length === 0 ? 'empty message' : 'no header fields: not an RFC 822 message');
  }
  try {
    return bound(buildRecord(parsed, rawRef, truncated));
  } catch (e) {
    return unparseable(raw, rawRef, `could not build a record from the parsed mail: ${message(e)}`);
  }
}

function buildRecord(p: ParsedMail, rawRef: RawRef, truncated: Set<string>): MailRecord {
  const headers = keptHeaders(p);
  const fromList = addresses(p.from);
  const fromEntry = fromList[0];
  const partTypes = p.attachments.map((a) => a.contentType.toLowerCase());
  const subject = clip(oneLine(p.subject ?? ''), SUBJECT_CHARS, 'subject', truncated);

  let text = p.text ?? '';
  let fromHtml = false;
  if (!text.trim() && typeof p.html === 'string' && p.html) {
    text = htmlToText(p.html.slice(0, HTML_SCAN_CHARS));
    fromHtml = true;
  }
  const excerpt = excerptOf(text, TEXT_CHARS);

  const cap = <T>(list: T[], max: number, what: string): T[] => {
    if (list.length <= max) return list;
    truncated.add(what);
    return list.slice(0, max);
  };
  const refs = references(p.references);
  let refList = refs.map((r) => clipId(r));
  if (refList.length > MAX_REFERENCES) {
    // Keep the thread root and the most recent ancestors: those are what threading needs.
    refList = [refList[0]!, ...refList.slice(-(MAX_REFERENCES - 1))];
    truncated.add('references');
  }

  const attachments: AttachmentMeta[] = p.attachments.map((a) => ({
    ...(a.filename ? { filename: a.filename.slice(0, NAME_CHARS) } : {}),
    contentType: a.contentType.slice(0, 100),
    size: a.size ?? (Buffer.isBuffer(a.content) ? a.content.length : 0),
    ...(a.cid ? { contentId: a.cid.slice(0, ID_CHARS) } : {}),
    inline: a.contentDisposition === 'inline' || a.related === true,
  }));
  const attachmentsTruncated = attachments.length > MAX_ATTACHMENTS;

  const classification = classify({
    headers,
    from: fromEntry?.address,
    fromName: fromEntry?.name ?? nameOnly(p.from),
    subject,
    partTypes,
    text: excerpt.text.slice(0, 1000),
  });

  const record: MailRecord = {
    v: 1,
    rawRef,
    ...(p.messageId ? { messageId: clipId(p.messageId) } : {}),
    ...(p.inReplyTo ? { inReplyTo: clipId(p.inReplyTo.split(/\s+/)[0] ?? p.inReplyTo) } : {}),
    references: refList,
    subject,
    ...dateField(p),
    ...(fromEntry ? { from: fromEntry } : {}),
    replyTo: cap(addresses(p.replyTo), MAX_ADDRESSES, 'replyTo'),
    to: cap(addresses(p.to), MAX_ADDRESSES, 'to'),
    cc: cap(addresses(p.cc), MAX_ADDRESSES, 'cc'),
    text: excerpt.text,
    textTruncated: excerpt.truncated,
    fromHtml,
    attachments: attachments.slice(0, MAX_ATTACHMENTS),
    attachmentsTruncated,
    headers,
    classification,
  };
  const authResults = authResultsOf(p);
  if (authResults.length) record.authResults = authResults;
  if (truncated.size) record.truncated = [...truncated];
  return record;
}

/** The topmost Authentication-Results headers, in order: the receiving host's comes first. */
function authResultsOf(p: ParsedMail): string[] {
  const out: string[] = [];
  for (const { key, line } of p.headerLines) {
    if (key.toLowerCase() !== 'authentication-results') continue;
    const colon = line.indexOf(':');
    out.push(compactAuthResults(oneLine(colon >= 0 ? line.slice(colon + 1) : '')));
    if (out.length >= MAX_AUTH_RESULTS) break;
  }
  return out;
}

/** The headers classification needs, from the raw header lines (first occurrence), bounded. */
function keptHeaders(p: ParsedMail): Record<string, string> {
  const wanted = new Set<string>(CLASSIFY_HEADERS);
  const out: Record<string, string> = {};
  for (const { key, line } of p.headerLines) {
    const k = key.toLowerCase();
    if (!wanted.has(k) || k in out) continue;
    const colon = line.indexOf(':');
    let value = oneLine(colon >= 0 ? line.slice(colon + 1) : '');
    if (k === 'content-type') value = contentTypeWithoutBoundary(p) ?? value;
    out[k] = value.slice(0, HEADER_VALUE_CHARS);
  }
  return out;
}

/** `multipart/report; report-type=delivery-status`: the boundary is long and says nothing. */
function contentTypeWithoutBoundary(p: ParsedMail): string | undefined {
  const ct = p.headers.get('content-type');
  if (!ct || typeof ct !== 'object' || !('value' in ct) || typeof ct.value !== 'string') return undefined;
  const params = 'params' in ct && ct.params && typeof ct.params === 'object' ? (ct.params as Record<string, string>) : {};
  const rest = Object.entries(params)
    .filter(([k]) => k !== 'boundary')
    .map(([k, v]) => `${k}=${v}`);
  return [ct.value.toLowerCase(), ...rest].join('; ');
}

/** Flattened, normalized addresses: lower-cased, IDN domains in Unicode, groups expanded. */
export function addresses(value: AddressObject | AddressObject[] | undefined): Address[] {
  if (!value) return [];
  const out: Address[] = [];
  const walk = (list: { address?: string; name?: string; group?: { address?: string; name?: string }[] }[]) => {
    for (const a of list) {
      if (a.group) walk(a.group);
      else if (a.address) {
        const address = normalizeAddress(a.address);
        if (!address) continue;
        const name = oneLine(a.name ?? '').slice(0, NAME_CHARS);
        out.push(name ? { address, name } : { address });
      }
    }
  };
  for (const obj of Array.isArray(value) ? value : [value]) walk(obj.value ?? []);
  return out;
}

export function normalizeAddress(address: string): string {
  const a = address.trim().replace(/^<|>$/g, '').toLowerCase();
  const at = a.lastIndexOf('@');
  if (at < 0) return a.slice(0, ADDRESS_CHARS);
  const domain = a.slice(at + 1);
  const unicode = domain.includes('xn--') ? domainToUnicode(domain) || domain : domain;
  return (a.slice(0, at) + '@' + unicode).slice(0, ADDRESS_CHARS);
}

function nameOnly(value: AddressObject | undefined): string | undefined {
  const first = value?.value?.[0];
  return first && !first.address && first.name ? first.name : undefined;
}

function references(value: string | string[] | undefined): string[] {
  if (!value) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.flatMap((r) => r.split(/\s+/)).filter((r) => r.length > 0);
}

/**
 * mailparser turns a Date header it cannot read into "now"; a record must not claim a date
 * the mail never had, so the header is read again here and an unreadable one is left out.
 */
function dateField(p: ParsedMail): { date?: string } {
  const line = p.headerLines.find((h) => h.key.toLowerCase() === 'date');
  if (!line) return {};
  const value = oneLine(line.line.slice(line.line.indexOf(':') + 1)).replace(/\([^()]*\)/g, '').trim();
  const t = Date.parse(value);
  return Number.isNaN(t) ? {} : { date: new Date(t).toISOString() };
}

/** The text excerpt: line endings normalized, blank runs collapsed, cut on a character boundary. */
export function excerptOf(text: string, maxChars: number): { text: string; truncated: boolean } {
  // Line by line trimEnd, not /[^\S\n]+$/gm: that pattern rescans every long run of blanks
  // that does not end a line, quadratic in the run's length.
  const clean = text
    .slice(0, maxChars * 4)
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  if (clean.length <= maxChars && text.length <= maxChars * 4) return { text: clean, truncated: false };
  return { text: cutChars(clean, maxChars), truncated: true };
}

/** Slice to at most n UTF-16 units without splitting a surrogate pair. */
function cutChars(s: string, n: number): string {
  if (s.length <= n) return s;
  const code = s.charCodeAt(n - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

function clip(s: string, n: number, what: string, truncated: Set<string>): string {
  if (s.length <= n) return s;
  truncated.add(what);
  return cutChars(s, n);
}

function clipId(id: string): string {
  return cutChars(id.trim(), ID_CHARS);
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** The first maxBytes of the mail, cut at a line end so the parser sees whole lines. */
function headOf(raw: Buffer, maxBytes: number): Buffer {
  const nl = raw.lastIndexOf(0x0a, maxBytes - 1);
  return raw.subarray(0, nl > 0 ? nl + 1 : maxBytes);
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

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`parse did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
