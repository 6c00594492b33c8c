// Real RFC 822 mails for delivery tests, the benchmark and the demo: built as bytes, put in a
// mail store and parsed by the same code the poller uses, so nothing about them is faked.
import { createHash } from 'node:crypto';
import type { MailRecord } from '../../src/mail/record.js';
import { parseMail } from '../../src/mail/parse.js';
import type { MailStore } from '../../src/mail/store.js';

export interface RawMailInput {
  from: string;
  to?: string;
  subject: string;
  messageId: string;
  inReplyTo?: string;
  references?: string[];
  text?: string;
  html?: string;
  date?: Date;
  /** Extra header lines, put on top as a receiving server would (`Authentication-Results: …`). */
  headers?: string[];
  /** Cc addresses. */
  cc?: string[];
  attachments?: { filename: string; contentType: string; content: Buffer }[];
}

function b64(buf: Buffer): string {
  return buf.toString('base64').replace(/.{76}/g, '$&\r\n');
}

/** A multipart mail as a mail client would send it (CRLF, base64 text parts). */
export function rawMail(m: RawMailInput): Buffer {
  // Derived from the input, so the same input is the same bytes: a mail is known by its hash.
  const boundary = `mr-${createHash('sha256').update(JSON.stringify(m)).digest('hex').slice(0, 12)}`;
  const head = [
    ...(m.headers ?? []),
    `From: ${m.from}`,
    `To: ${m.to ?? 'support@acme.example'}`,
    ...(m.cc?.length ? [`Cc: ${m.cc.join(', ')}`] : []),
    `Subject: =?UTF-8?B?${Buffer.from(m.subject).toString('base64')}?=`,
    `Date: ${(m.date ?? new Date('2026-11-28T10:15:00Z')).toUTCString()}`,
    `Message-ID: <${m.messageId}>`,
    ...(m.inReplyTo ? [`In-Reply-To: <${m.inReplyTo}>`] : []),
    ...(m.references?.length ? [`References: ${m.references.map((r) => `<${r}>`).join(' ')}`] : []),
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
  ];
  const parts: string[] = [];
  if (m.text !== undefined) parts.push(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64', '', b64(Buffer.from(m.text))].join('\r\n'));
  if (m.html !== undefined) parts.push(['Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: base64', '', b64(Buffer.from(m.html))].join('\r\n'));
  for (const a of m.attachments ?? []) {
    parts.push([
      `Content-Type: ${a.contentType}; name="${a.filename}"`,
      `Content-Disposition: attachment; filename="${a.filename}"`,
      'Content-Transfer-Encoding: base64',
      '',
      b64(a.content),
    ].join('\r\n'));
  }
  const body = parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('') + `--${boundary}--\r\n`;
  return Buffer.from(head.join('\r\n') + '\r\n\r\n' + body);
}

/** Store the bytes and parse them: the record a poller would have enqueued. */
export async function storedRecord(store: MailStore, raw: Buffer): Promise<MailRecord> {
  const ref = await store.put(raw);
  return parseMail(raw, ref);
}
