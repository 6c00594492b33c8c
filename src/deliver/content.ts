// What delivery needs from the raw mail, read again from the mail store (never from Redis job
// data): the body text (the record only carries a bounded excerpt) and the attachments with
// their bytes. Parsing a whole mail is CPU work proportional to its size, so the deliverer
// does it in a worker thread (content-pool.ts); parseContent is that thread's work.
import { simpleParser } from 'mailparser';
import { NotFoundError, PermanentError } from '../core/errors.js';
import type { MailStore } from '../mail/store.js';
import { LEAN_PARSER_OPTIONS } from '../mail/parse.js';
import type { MailRecord } from '../mail/record.js';
import { htmlToLinkedTextCapped } from './adf.js';

export interface MailAttachment {
  /** Position among the mail's attachments: the id of its upload step in job data. */
  index: number;
  filename: string;
  contentType: string;
  size: number;
  content: Buffer;
}

export interface MailContent {
  /** Plain text, or text from HTML with anchors kept as link marks (see adf.ts). */
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

// eslint-disable-next-line no-control-regex -- the anchor marks of adf.ts are control characters
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

/** A name Jira will show: the mail's filename, else one made from the position and type. */
export function attachmentName(filename: string | undefined, contentType: string, index: number): string {
  // Path separators and control characters from a hostile mail must not reach Jira as such.
  // eslint-disable-next-line no-control-regex -- control characters are what is being removed
  const clean = (filename ?? '').replace(/[\u0000-\u001f\u007f/\\]+/g, '_').trim();
  if (clean) return clean.slice(0, 255);
  return `attachment-${index + 1}.${EXT[contentType.toLowerCase()] ?? 'bin'}`;
}

/** Read the raw mail from the store and parse it (`parse` runs it off this thread when given). */
export async function loadContent(store: MailStore, record: Pick<MailRecord, 'rawRef'>, parse: (raw: Buffer) => Promise<MailContent> = parseContent): Promise<MailContent> {
  let raw: Buffer;
  try {
    raw = await store.get(record.rawRef.sha256);
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new PermanentError(`the raw mail ${record.rawRef.sha256} is not in the mail store, so its body and attachments cannot be delivered (${e.message})`);
    }
    throw e;
  }
  return parse(raw);
}

/** The note at the end of a delivered body whose text was cut. */
export function cutNote(why: string, sha256: string): string {
  return `Mailroom cut this text: ${why}. The whole mail is kept in Mailroom's store (sha256 ${sha256}).`;
}

/**
 * Text and attachments of a raw mail. A mail the parser refuses (e.g. more MIME parts than it
 * allows) is refused the same way on every try: a PermanentError on the first attempt.
 */
export async function parseContent(raw: Buffer): Promise<MailContent> {
  // Text conversions are done here (HTML -> text with links, see adf.ts); attachments are wanted.
  let p;
  try {
    p = await simpleParser(raw, LEAN_PARSER_OPTIONS);
  } catch (e) {
    throw new PermanentError(`the mail cannot be parsed for delivery (${e instanceof Error ? e.message : String(e)}): it would fail the same way on every try`);
  }
  let text = p.text ?? '';
  let fromHtml = false;
  let cut: string | undefined;
  if (!text.trim() && typeof p.html === 'string' && p.html) {
    const html = htmlToLinkedTextCapped(p.html, { maxInputChars: MAX_HTML_CHARS, maxChars: MAX_BODY_CHARS });
    text = html.text;
    fromHtml = true;
    if (html.cut) {
      cut = html.cutBy === 'input'
        ? `only the first ${MAX_HTML_CHARS.toLocaleString('en')} characters of the mail's HTML (of ${p.html.length.toLocaleString('en')}) were read`
        : `the text is longer than ${MAX_BODY_CHARS.toLocaleString('en')} characters`;
    }
  } else {
    // Plain text cannot carry anchor marks: a mail that holds them gets them removed.
    if (text.length > MAX_BODY_CHARS) {
      cut = `the text is longer than ${MAX_BODY_CHARS.toLocaleString('en')} characters (${text.length.toLocaleString('en')})`;
      text = text.slice(0, MAX_BODY_CHARS);
    }
    text = text.replace(MARKS_RE, '');
  }
  const attachments = p.attachments.map((a, index): MailAttachment => {
    const content = Buffer.isBuffer(a.content) ? a.content : Buffer.from(a.content ?? '');
    return { index, filename: attachmentName(a.filename, a.contentType, index), contentType: a.contentType || 'application/octet-stream', size: content.length, content };
  });
  return { text, fromHtml, ...(cut ? { cut } : {}), attachments };
}
