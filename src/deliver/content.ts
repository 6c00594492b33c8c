// What delivery needs from the raw mail, read again from the mail store (never from Redis job
// data): the whole body text (the record only carries a bounded excerpt) and the attachments
// with their bytes.
import { simpleParser } from 'mailparser';
import { NotFoundError, PermanentError } from '../errors.js';
import type { MailStore } from '../mail/store.js';
import { LEAN_PARSER_OPTIONS } from '../mail/parse.js';
import type { MailRecord } from '../mail/record.js';
import { htmlToLinkedText } from './adf.js';

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
  attachments: MailAttachment[];
}

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

export async function loadContent(store: MailStore, record: Pick<MailRecord, 'rawRef'>): Promise<MailContent> {
  let raw: Buffer;
  try {
    raw = await store.get(record.rawRef.sha256);
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new PermanentError(`the raw mail ${record.rawRef.sha256} is not in the mail store, so its body and attachments cannot be delivered (${e.message})`);
    }
    throw e;
  }
  return parseContent(raw);
}

export async function parseContent(raw: Buffer): Promise<MailContent> {
  // Text conversions are done here (HTML -> text with links, see adf.ts); attachments are wanted.
  const p = await simpleParser(raw, LEAN_PARSER_OPTIONS);
  let text = p.text ?? '';
  let fromHtml = false;
  if (!text.trim() && typeof p.html === 'string' && p.html) {
    text = htmlToLinkedText(p.html);
    fromHtml = true;
  }
  const attachments = p.attachments.map((a, index): MailAttachment => {
    const content = Buffer.isBuffer(a.content) ? a.content : Buffer.from(a.content ?? '');
    return { index, filename: attachmentName(a.filename, a.contentType, index), contentType: a.contentType || 'application/octet-stream', size: content.length, content };
  });
  return { text, fromHtml, attachments };
}
