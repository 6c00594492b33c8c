// What delivery needs of a mail beyond its record: the whole body text (the record carries only
// a bounded excerpt) and the attachments with their bytes. The poller makes it from the same
// parse as the record and keeps it beside the raw mail in the store (see companion.ts); a mail
// without one (stored by an older version, too big to parse whole at intake) has it made from
// its raw source (parseContent in parse.ts). No mailparser here: only its types.
import type { ParsedMail } from 'mailparser';
import { htmlToTextCapped, type HtmlText } from './html-text.js';

export interface MailAttachment {
  /** Position among the mail's attachments: the id of its upload step in job data. */
  index: number;
  filename: string;
  contentType: string;
  size: number;
  content: Buffer;
}

export interface MailContent {
  /** Plain text, or text from HTML with anchors kept as link marks (see html-text.ts). */
  text: string;
  fromHtml: boolean;
  /** The text had to be cut: what a person reads at its end (see cutNote). */
  cut?: string;
  attachments: MailAttachment[];
}

/**
 * Body text delivered at most. Jira Cloud refuses a description or comment over 32,767
 * characters; this leaves room for the preface and notes around it.
 */
export const MAX_BODY_CHARS = 30_000;
/**
 * HTML read at most to find that text. The converter is linear, so this only bounds the time
 * a mail that is all markup (a tag bomb) can take: ~4 MiB is well under a second here.
 */
export const MAX_HTML_CHARS = 4 * 1024 * 1024;

// eslint-disable-next-line no-control-regex -- the anchor marks of html-text.ts are control characters
const MARKS_RE = /[\u0001-\u0003]/g;

const EXT: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'application/pdf': 'pdf',
  'text/plain': 'txt',
  'text/calendar': 'ics',
  'message/rfc822': 'eml',
};

// Characters that reorder or hide what a name shows: the bidi embeddings, overrides and isolates
// (U+202A-U+202E, U+2066-U+2069), the directional marks (U+200E/F, U+061C), zero-width and BOM
// characters. "invoice\u202efdp.exe" shows as "invoiceexe.pdf": removed, it reads "invoicefdp.exe".
const BIDI_RE = /[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u061c\ufeff]/g;
// eslint-disable-next-line no-control-regex -- control characters (C0, DEL, C1) are what is matched
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/g;

/** A name as a person should read it: no bidi or invisible characters, controls as spaces, trimmed. */
export function plainName(name: string): string {
  return name.replace(BIDI_RE, '').replace(CONTROL_RE, ' ').replace(/\s+/g, ' ').trim();
}

/** A name Jira will show: the mail's filename, else one made from the position and type. */
export function attachmentName(filename: string | undefined, contentType: string, index: number): string {
  // Bidi and invisible characters removed; path separators and controls from a hostile mail
  // must not reach Jira as such.
  // eslint-disable-next-line no-control-regex -- control characters are what is being removed
  const clean = (filename ?? '').replace(BIDI_RE, '').replace(/[\u0000-\u001f\u007f-\u009f/\\]+/g, '_').trim();
  if (clean) return clean.slice(0, 255);
  return `attachment-${index + 1}.${EXT[contentType.toLowerCase()] ?? 'bin'}`;
}

/** The note at the end of a delivered body whose text was cut. */
export function cutNote(why: string, sha256: string): string {
  return `Mailroom cut this text: ${why}. The whole mail is kept in Mailroom's store (sha256 ${sha256}).`;
}

/**
 * HTML to text keeping links: `<a href="u">label</a>` stays a link on "label" (http, https and
 * mailto only). Block elements, line breaks and every HTML5 entity are handled by the
 * converter (html-text.ts), linear in the size of the HTML and capped.
 */
export function htmlToLinkedText(html: string, caps: { maxInputChars?: number; maxChars?: number } = {}): string {
  return htmlToLinkedTextCapped(html, caps).text;
}

export function htmlToLinkedTextCapped(html: string, caps: { maxInputChars?: number; maxChars?: number } = {}): HtmlText {
  return htmlToTextCapped(html, { ...caps, links: true });
}

/** Text and attachments of a parsed mail (parsed with PARSER_OPTIONS: no text conversions); enclosed mails: delivery-content.ts. */
export function contentOf(p: ParsedMail): MailContent {
  const body = typeof p.html === 'string' && p.html && !(p.text ?? '').trim() ? htmlBody(p.html) : textBody(p.text ?? '');
  const attachments = p.attachments.map((a, index): MailAttachment => {
    const content = Buffer.isBuffer(a.content) ? a.content : Buffer.from(a.content ?? '');
    return { index, filename: attachmentName(a.filename, a.contentType, index), contentType: a.contentType || 'application/octet-stream', size: content.length, content };
  });
  return { ...body, attachments };
}

/** No text part: text from the HTML, anchors kept as link marks, capped. */
function htmlBody(html: string): Omit<MailContent, 'attachments'> {
  const r = htmlToLinkedTextCapped(html, { maxInputChars: MAX_HTML_CHARS, maxChars: MAX_BODY_CHARS });
  if (!r.cut) return { text: r.text, fromHtml: true };
  const cut =
    r.cutBy === 'input'
      ? `only the first ${MAX_HTML_CHARS.toLocaleString('en')} characters of the mail's HTML (of ${html.length.toLocaleString('en')}) were read`
      : `the text is longer than ${MAX_BODY_CHARS.toLocaleString('en')} characters`;
  return { text: r.text, fromHtml: true, cut };
}

/** Plain text cannot carry anchor marks: a mail that holds them gets them removed. */
function textBody(text: string): Omit<MailContent, 'attachments'> {
  let cut: string | undefined;
  if (text.length > MAX_BODY_CHARS) {
    cut = `the text is longer than ${MAX_BODY_CHARS.toLocaleString('en')} characters (${text.length.toLocaleString('en')})`;
    text = text.slice(0, MAX_BODY_CHARS);
  }
  return { text: text.replace(MARKS_RE, ''), fromHtml: false, ...(cut ? { cut } : {}) };
}
