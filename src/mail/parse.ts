// Raw RFC 822 bytes -> the compact MailRecord that travels in jobs. Never throws: a mail the
// parser cannot make sense of becomes `unparseable` with the reason, because dropping a mail
// is worse than a ticket nobody could read. The record's JSON stays within MAX_RECORD_BYTES
// whatever the mail, cutting the least useful parts first and saying what was cut.
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { PermanentError } from '../core/errors.js';
import { readBounce } from './bounce.js';
import { compactAuthResults, MAX_AUTH_RESULTS } from './auth-results.js';
import { CLASSIFY_HEADERS, classify } from './classify.js';
import type { MailContent } from './content.js';
import { deliveryContent } from './delivery-content.js';
import { htmlToText } from './html-text.js';
import { DEFAULT_MAX_PARSE_BYTES } from './parse-limits.js';
import type { Address, AttachmentMeta, MailRecord, RawRef } from './record.js';
import { bound, clipId, cutChars, ID_CHARS, NAME_CHARS, normalizeAddress, oneLine, SUBJECT_CHARS, unparseable } from './record-bound.js';

export interface ParseOptions {
  /** Bytes handed to the parser at most (DEFAULT_MAX_PARSE_BYTES, parse-limits.ts says why). */
  maxParseBytes?: number;
  /** A parse that has not finished after this long is given up (a stuck stream, not a busy CPU). */
  timeoutMs?: number;
  /** This install's notification id domains (ownNotificationDomains, loop.ts), for classification. */
  notificationDomains?: readonly string[];
}

export { DEFAULT_MAX_PARSE_BYTES };
const DEFAULT_TIMEOUT_MS = 30_000;

// Limits before the final size check; generous enough for ordinary mail, small enough that
// the JSON rarely needs the slower shrink loop below.
const TEXT_CHARS = 4000;
const HEADER_VALUE_CHARS = 256;
const MAX_ADDRESSES = 50;
const MAX_REFERENCES = 20;
const MAX_ATTACHMENTS = 50;
const HTML_SCAN_CHARS = 256 * 1024;

export { LEAN_PARSER_OPTIONS, PARSER_OPTIONS } from './parser-options.js';
import { PARSER_OPTIONS } from './parser-options.js';
import { withTimeout } from '../core/timeout.js';

export interface ReadMail {
  record: MailRecord;
  /**
   * What delivery needs (content.ts), made from this same parse (delivery-content.ts): only for
   * mail that may be delivered (`human`) and was parsed whole, not cut to its head.
   */
  content?: MailContent;
}

export async function parseMail(raw: Buffer, rawRef: RawRef, opts: ParseOptions = {}): Promise<MailRecord> {
  return (await readMail(raw, rawRef, opts, { content: false })).record;
}

/** The record, and the delivery content when it can be made from this parse (see ReadMail). */
export async function readMail(raw: Buffer, rawRef: RawRef, opts: ParseOptions = {}, want = { content: true }): Promise<ReadMail> {
  const input = parserInput(raw, opts.maxParseBytes ?? DEFAULT_MAX_PARSE_BYTES);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let parsed: ParsedMail;
  try {
    parsed = await withTimeout(simpleParser(input.bytes, PARSER_OPTIONS), timeoutMs, `parse did not finish within ${timeoutMs} ms`);
  } catch (e) {
    return { record: unparseable(raw, rawRef, `mailparser failed: ${message(e)}`) };
  }
  if (!parsed.headerLines.some((h) => h.key !== '')) {
    // Empty files, binary junk, a body without a header: nothing to thread, answer or route.
    return { record: unparseable(raw, rawRef, raw.length === 0 ? 'empty message' : 'no header fields: not an RFC 822 message') };
  }
  let record: MailRecord;
  try {
    record = bound(buildRecord(parsed, rawRef, input.truncated, opts.notificationDomains));
  } catch (e) {
    return { record: unparseable(raw, rawRef, `could not build a record from the parsed mail: ${message(e)}`) };
  }
  // A mail parsed whole (not cut to its head) that may be delivered: its delivery content from
  // this same parse. A cut one gets it from deliveryContentOf on the whole raw mail, later.
  const content = want.content && !input.truncated.has('parse-input') && record.classification.kind === 'human' ? await contentOrNone(parsed) : undefined;
  return content ? { record, content } : { record };
}

/** What the parser is given: the mail, or its head when it is too big, with bare CRs mended. */
function parserInput(raw: Buffer, maxBytes: number): { bytes: Buffer; truncated: Set<string> } {
  const truncated = new Set<string>();
  let bytes = raw;
  if (raw.length > maxBytes) {
    bytes = headOf(raw, maxBytes);
    truncated.add('parse-input');
  }
  if (bytes.indexOf(0x0a) < 0 && bytes.indexOf(0x0d) >= 0) {
    // Bare-CR line ends (classic Mac OS) are invisible to mailparser, which then reads the
    // whole mail as one header line. Only the parser's copy changes; the stored raw does not.
    bytes = Buffer.from(bytes.toString('latin1').replace(/\r/g, '\r\n'), 'latin1');
  }
  return { bytes, truncated };
}

async function contentOrNone(p: ParsedMail): Promise<MailContent | undefined> {
  try {
    return await deliveryContent(p);
  } catch {
    return undefined; // the deliverer makes it from the raw mail, and says what went wrong
  }
}

/**
 * Text and attachments of a raw mail, for a mail stored without them (content.ts): the same
 * parse as readMail's, whole (no head cut), so it makes exactly what intake would have stored.
 * A mail the parser refuses (e.g. more MIME parts than it allows) is refused the same way on
 * every try: a PermanentError on the first attempt.
 */
export async function parseContent(raw: Buffer): Promise<MailContent> {
  let p: ParsedMail;
  try {
    p = await simpleParser(parserInput(raw, Number.POSITIVE_INFINITY).bytes, PARSER_OPTIONS);
  } catch (e) {
    throw new PermanentError(`the mail cannot be parsed for delivery (${message(e)}): it would fail the same way on every try`);
  }
  return deliveryContent(p);
}

function buildRecord(p: ParsedMail, rawRef: RawRef, truncated: Set<string>, notificationDomains: readonly string[] | undefined): MailRecord {
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
    // The mail it answers directly: an older id in References may be one a sender chose.
    answers: answeredIds(p.inReplyTo),
    ...(notificationDomains ? { notificationDomains } : {}),
  });

  const record: MailRecord = {
    v: 1,
    rawRef,
    ...(p.messageId ? { messageId: clipId(p.messageId) } : {}),
    ...(p.inReplyTo ? { inReplyTo: clipId(answeredIds(p.inReplyTo)[0] ?? p.inReplyTo) } : {}),
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
  if (classification.kind === 'bounce') record.bounce = readBounce(p.attachments, { text: p.text ?? '', ...(headers['x-failed-recipients'] ? { failedRecipients: headers['x-failed-recipients'] } : {}) });
  const auth = authResultsOf(p);
  if (auth.values.length) Object.assign(record, { authResults: auth.values, authHops: auth.hops });
  if (auth.authAs) record.authAs = auth.authAs;
  const fromCount = p.headerLines.filter((h) => h.key.toLowerCase() === 'from').length * Math.max(1, fromList.length);
  if (fromCount > 1) record.fromCount = Math.min(fromCount, 1000);
  if (truncated.size) record.truncated = [...truncated];
  return record;
}

/**
 * The topmost Authentication-Results headers, in order (the receiving host's come first), each
 * with the count of Received headers above it (where one hop ends), and Exchange's topmost
 * X-MS-Exchange-Organization-AuthAs (Exchange removes that header from mail arriving from outside).
 */
function authResultsOf(p: ParsedMail): { values: string[]; hops: number[]; authAs?: string } {
  const values: string[] = [];
  const hops: number[] = [];
  let received = 0;
  let authAs: string | undefined;
  for (const { key, line } of p.headerLines) {
    const k = key.toLowerCase();
    const value = () => oneLine(utf8Header(line.slice(line.indexOf(':') + 1)));
    if (k === 'received') received++;
    else if (k === 'x-ms-exchange-organization-authas' && authAs === undefined) authAs = value().trim().toLowerCase().slice(0, 40);
    else if (k === 'authentication-results' && values.length < MAX_AUTH_RESULTS) {
      values.push(compactAuthResults(value()));
      hops.push(received);
    }
  }
  return { values, hops, ...(authAs ? { authAs } : {}) };
}

/**
 * mailparser keeps raw header lines as binary (latin1) strings: an SMTPUTF8 mail's host writes
 * `header.from=bücher.example` in UTF-8, which would read as `bÃ¼cher.example`.
 */
function utf8Header(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\u0080-\u00ff]/.test(s) || /[^\u0000-\u00ff]/.test(s)) return s;
  try {
    return STRICT_UTF8.decode(Buffer.from(s, 'latin1'));
  } catch {
    return s; // not UTF-8: a host that writes latin1 keeps its bytes as they were read
  }
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The Message-IDs an In-Reply-To names, at most 5: the first is the mail threaded on, all are
 * read by classification. RFC 5322 needs no space between ids (`<a@x><b@y>`), some clients put
 * commas between them and a comment may lead: split on spaces only, an answer to our
 * notification written so was not known as one and became work.
 */
function answeredIds(inReplyTo: string | undefined): string[] {
  if (!inReplyTo) return [];
  const ids = inReplyTo.match(/<[^<>]*>/g);
  return (ids ?? inReplyTo.split(/\s+/).filter((t) => t.length > 0)).slice(0, 5);
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

function clip(s: string, n: number, what: string, truncated: Set<string>): string {
  if (s.length <= n) return s;
  truncated.add(what);
  return cutChars(s, n);
}

/** The first maxBytes of the mail, cut at a line end so the parser sees whole lines. */
function headOf(raw: Buffer, maxBytes: number): Buffer {
  const nl = raw.lastIndexOf(0x0a, maxBytes - 1);
  return raw.subarray(0, nl > 0 ? nl + 1 : maxBytes);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
