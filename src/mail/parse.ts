// Raw RFC 822 bytes -> the compact MailRecord that travels in jobs. Never throws: a mail the
// parser cannot make sense of becomes `unparseable` with the reason, because dropping a mail
// is worse than a ticket nobody could read. The record's JSON stays within MAX_RECORD_BYTES
// whatever the mail, cutting the least useful parts first and saying what was cut.
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { PermanentError } from '../core/errors.js';
import { readBounce } from './bounce.js';
import { compactAuthResults, MAX_AUTH_RESULTS } from './auth-results.js';
import { CLASSIFY_HEADERS, classify } from './classify.js';
import { contentOf, type MailContent } from './content.js';
import { htmlToText } from './html-text.js';
import { DEFAULT_MAX_PARSE_BYTES } from './parse-limits.js';
import type { Address, AttachmentMeta, MailRecord, RawRef } from './record.js';
import { bound, clipId, cutChars, ID_CHARS, NAME_CHARS, normalizeAddress, oneLine, SUBJECT_CHARS, unparseable } from './record-bound.js';

export interface ParseOptions {
  /** Bytes handed to the parser at most (DEFAULT_MAX_PARSE_BYTES, parse-limits.ts says why). */
  maxParseBytes?: number;
  /** A parse that has not finished after this long is given up (a stuck stream, not a busy CPU). */
  timeoutMs?: number;
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

/**
 * mailparser with only what Mailroom uses: its defaults turn HTML into text, text into HTML,
 * linkify and inline cid: images as data: URLs — most of its time, none of it used here
 * (`npm run bench`, "parse": about 1.7x simpleParser with defaults). Attachment checksums are skipped: the raw store is content-addressed.
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

export interface ReadMail {
  record: MailRecord;
  /**
   * What delivery needs (content.ts), made from the same parse: only for mail that may be
   * delivered (`human`) and when this parse saw the raw mail exactly as parseContent would
   * (whole, not cut to its head nor its line ends mended, no delivery-status part kept apart).
   */
  content?: MailContent;
}

export async function parseMail(raw: Buffer, rawRef: RawRef, opts: ParseOptions = {}): Promise<MailRecord> {
  return (await readMail(raw, rawRef, opts, { content: false })).record;
}

/** The record, and the delivery content when it can be made from this parse (see ReadMail). */
export async function readMail(raw: Buffer, rawRef: RawRef, opts: ParseOptions = {}, want = { content: true }): Promise<ReadMail> {
  const input = parserInput(raw, opts.maxParseBytes ?? DEFAULT_MAX_PARSE_BYTES);
  let parsed: ParsedMail;
  try {
    parsed = await withTimeout(simpleParser(input.bytes, PARSER_OPTIONS), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  } catch (e) {
    return { record: unparseable(raw, rawRef, `mailparser failed: ${message(e)}`) };
  }
  if (!parsed.headerLines.some((h) => h.key !== '')) {
    // Empty files, binary junk, a body without a header: nothing to thread, answer or route.
    return { record: unparseable(raw, rawRef, raw.length === 0 ? 'empty message' : 'no header fields: not an RFC 822 message') };
  }
  let record: MailRecord;
  try {
    record = bound(buildRecord(parsed, rawRef, input.truncated));
  } catch (e) {
    return { record: unparseable(raw, rawRef, `could not build a record from the parsed mail: ${message(e)}`) };
  }
  const content = want.content && input.asIs && deliverable(record, parsed) ? contentOrNone(parsed) : undefined;
  return content ? { record, content } : { record };
}

/** What the parser is given: the mail, or its head when it is too big, with bare CRs mended. */
function parserInput(raw: Buffer, maxBytes: number): { bytes: Buffer; truncated: Set<string>; asIs: boolean } {
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
  return { bytes, truncated, asIs: bytes === raw };
}

/**
 * Parts this parse keeps apart that parseContent reads otherwise: a delivery-status part (kept
 * for classification) and an embedded message (this parse does not open it; parseContent puts
 * an inline forwarded message's text and attachments into the delivery). A mail with one gets
 * its content made from the raw mail, so both paths deliver the same text and the same
 * attachment positions (which job state records uploads by).
 */
const READ_OTHERWISE = new Set(['message/delivery-status', 'message/rfc822', 'message/global']);

/** Only `human` mail is delivered, and its content is stored only when parseContent would make the same. */
function deliverable(record: MailRecord, p: ParsedMail): boolean {
  return record.classification.kind === 'human' && !p.attachments.some((a) => READ_OTHERWISE.has(a.contentType.toLowerCase()));
}

function contentOrNone(p: ParsedMail): MailContent | undefined {
  try {
    return contentOf(p);
  } catch {
    return undefined; // the deliverer makes it from the raw mail, and says what went wrong
  }
}

/**
 * Text and attachments of a raw mail, for a mail stored without them (content.ts). A mail the
 * parser refuses (e.g. more MIME parts than it allows) is refused the same way on every try: a
 * PermanentError on the first attempt.
 */
export async function parseContent(raw: Buffer): Promise<MailContent> {
  let p: ParsedMail;
  try {
    p = await simpleParser(raw, LEAN_PARSER_OPTIONS);
  } catch (e) {
    throw new PermanentError(`the mail cannot be parsed for delivery (${message(e)}): it would fail the same way on every try`);
  }
  return contentOf(p);
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
    const value = () => oneLine(line.slice(line.indexOf(':') + 1));
    if (k === 'received') received++;
    else if (k === 'x-ms-exchange-organization-authas' && authAs === undefined) authAs = value().trim().toLowerCase().slice(0, 40);
    else if (k === 'authentication-results' && values.length < MAX_AUTH_RESULTS) {
      values.push(compactAuthResults(value()));
      hops.push(received);
    }
  }
  return { values, hops, ...(authAs ? { authAs } : {}) };
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
