import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { htmlToText } from '../../src/mail/html-text.js';
import { MAX_OPENED } from '../../src/mail/delivery-content.js';
import { parseContent, parseMail, readMail } from '../../src/mail/parse.js';
import { MAX_RECORD_BYTES, mailRecordSchema, type MailRecord } from '../../src/mail/record.js';
import { sha256Of } from '../../src/mail/store.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'mail');

function fixture(name: string): Buffer {
  return readFileSync(join(FIXTURES, name));
}

async function parse(raw: Buffer | string, opts?: Parameters<typeof parseMail>[2]): Promise<MailRecord> {
  const buf = typeof raw === 'string' ? Buffer.from(raw) : raw;
  const record = await parseMail(buf, { sha256: sha256Of(buf), size: buf.length }, opts);
  // Every record, whatever the mail, is valid and within the size bound.
  mailRecordSchema.parse(record);
  expect(Buffer.byteLength(JSON.stringify(record))).toBeLessThanOrEqual(MAX_RECORD_BYTES);
  return record;
}

describe('parseMail: fields', () => {
  it('normalizes addresses: lower-cased, IDN domain in Unicode, encoded names decoded, groups expanded', async () => {
    const r = await parse(fixture('human-idn-sender-encoded-names-attachments.eml'));
    expect(r.from).toEqual({ address: 'juergen@bücher.example', name: 'Jürgen Müller' });
    expect(r.to).toEqual([{ address: 'support@example.com', name: 'Support' }, { address: 'ops1@example.com' }, { address: 'ops2@example.com' }]);
    expect(r.cc).toEqual([{ address: 'jerome@example.fr', name: 'Jérôme' }]);
    expect(r.replyTo).toEqual([{ address: 'juergen.private@example.org' }]);
  });

  it('keeps ids, threading, decoded subject and an ISO date', async () => {
    const r = await parse(fixture('human-idn-sender-encoded-names-attachments.eml'));
    expect(r.messageId).toBe('<m1@bucher.example>');
    expect(r.inReplyTo).toBe('<p0@example.com>');
    expect(r.references).toEqual(['<root@example.com>', '<p0@example.com>']);
    expect(r.subject).toBe('Drucker defekt – bitte helfen');
    expect(r.date).toBe('2026-11-03T08:15:00.000Z');
    expect(r.rawRef.size).toBe(fixture('human-idn-sender-encoded-names-attachments.eml').length);
  });

  it('describes attachments without carrying them, inline images with their content id', async () => {
    const r = await parse(fixture('human-idn-sender-encoded-names-attachments.eml'));
    expect(r.attachments).toEqual([
      { filename: 'logo.png', contentType: 'image/png', size: 70, contentId: 'logo@bucher.example', inline: true },
      { filename: 'Prüfbericht.pdf', contentType: 'application/pdf', size: 19, inline: false },
    ]);
    expect(r.text).toBe('Guten Tag,\n\nder Drucker im 3. Stock druckt nur noch leere Seiten.');
    expect(r.fromHtml).toBe(false);
  });

  it('keeps only the headers classification needs, the content type without its boundary', async () => {
    const r = await parse(fixture('bounce-postfix-dsn.eml'));
    expect(r.headers).toEqual({
      'return-path': '<>',
      'auto-submitted': 'auto-replied',
      'content-type': 'multipart/report; report-type=delivery-status',
    });
  });

  it('derives the excerpt from HTML when there is no text part', async () => {
    const r = await parse(fixture('html-only-with-style-and-entities.eml'));
    expect(r.fromHtml).toBe(true);
    expect(r.text).toBe('Hello team,\n\nThe portal says "error 500" & logs me out…\n\n- Chrome\n- Firefox – too');
  });

  it('leaves out a Date it cannot read instead of inventing "now"', async () => {
    const r = await parse(fixture('unreadable-date-header.eml'));
    expect(r.date).toBeUndefined();
    expect(r.subject).toBe('the date is nonsense');
  });

  it.each([
    ['bounce-postfix-dsn.eml', 'bounce', /delivery-status/],
    ['vacation-rfc3834-auto-submitted.eml', 'auto-reply', /Auto-Submitted: auto-replied/],
    // X-Auto-Response-Suppress is the sending client's wish, not a sign of automation: weak.
    ['outlook-out-of-office.eml', 'human', /out-of-office subject .* \(weak signal/],
    ['list-mail-with-list-id.eml', 'list', /List-Id/],
    ['own-notification-with-loop-header.eml', 'own', /X-Mailroom-Loop/],
    ['human-idn-sender-encoded-names-attachments.eml', 'human', /no automated/],
  ])('classifies %s as %s', async (name, kind, reason) => {
    const r = await parse(fixture(name));
    expect(r.classification.kind).toBe(kind);
    expect(r.classification.reason).toMatch(reason);
  });

  it('does not read the returned mail inside a bounce as its text', async () => {
    const r = await parse(fixture('bounce-postfix-dsn.eml'));
    expect(r.text).toContain('550 5.1.1 User unknown');
    expect(r.text).not.toContain('Your ticket SUP-1');
    expect(r.attachments.map((a) => a.contentType)).toEqual(['message/delivery-status', 'message/rfc822']);
  });
});

describe('parseMail: bounded whatever the mail', () => {
  it('cuts a monster mail down to MAX_RECORD_BYTES and says what was cut', async () => {
    const rcpts = Array.from({ length: 3000 }, (_, i) => `"Recipient Number ${i}" <r${i}@example.com>`).join(', ');
    const refs = Array.from({ length: 500 }, (_, i) => `<ref${i}.${'x'.repeat(40)}@example.com>`).join(' ');
    let mail =
      `From: a@example.com\r\nTo: ${rcpts}\r\nCc: ${rcpts}\r\nReferences: ${refs}\r\n` +
      `Subject: ${'long subject '.repeat(200)}\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n` +
      `--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${'日本語のテキスト。'.repeat(20000)}\r\n`;
    for (let i = 0; i < 300; i++) {
      mail += `--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${'file'.repeat(40)}-${i}.bin"\r\n\r\nxx\r\n`;
    }
    mail += '--b--\r\n';
    const r = await parse(mail);
    expect(r.textTruncated).toBe(true);
    expect(r.attachmentsTruncated).toBe(true);
    expect(r.truncated).toEqual(expect.arrayContaining(['to', 'cc', 'references', 'subject']));
    expect(r.to.length).toBeLessThanOrEqual(50);
    expect(r.to[0]).toEqual({ address: 'r0@example.com', name: 'Recipient Number 0' });
    // What threading needs survives: the root reference and the most recent ones.
    expect(r.references[0]).toMatch(/^<ref0\./);
    expect(r.references.at(-1)).toMatch(/^<ref499\./);
    expect(r.from?.address).toBe('a@example.com');
    expect(r.text.length).toBeGreaterThanOrEqual(2000);
  });

  it('parses a mail bigger than maxParseBytes from its head, and flags it', async () => {
    const mail = `From: big@example.com\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${'QUJD\r\n'.repeat(50_000)}--b--\r\n`;
    const r = await parse(mail, { maxParseBytes: 64 * 1024 });
    expect(r.truncated).toContain('parse-input');
    expect(r.subject).toBe('big');
    expect(r.text).toBe('see attached');
    expect(r.rawRef.size).toBe(Buffer.byteLength(mail)); // the pointer is to the whole mail
    expect(r.classification.kind).toBe('human');
  });
});

describe('parseMail: never throws', () => {
  it('marks a header block the parser refuses as unparseable, keeping what a plain scan can read', async () => {
    const mail = `From: Someone <Someone@Example.com>\r\nSubject: huge header\r\nMessage-ID: <h@x>\r\nX-Big: ${'x'.repeat(1_100_000)}\r\n\r\nbody\r\n`;
    const r = await parse(mail);
    expect(r.classification.kind).toBe('unparseable');
    expect(r.parseError).toMatch(/mailparser failed: .*header size/i);
    expect(r.classification.reason).toBe(r.parseError);
    expect(r.subject).toBe('huge header');
    expect(r.from).toEqual({ address: 'someone@example.com' });
    expect(r.messageId).toBe('<h@x>');
  });

  it('marks a mail with too many MIME parts as unparseable', async () => {
    let mail = 'From: a@example.com\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n';
    for (let i = 0; i < 1100; i++) mail += `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`;
    const r = await parse(mail + '--b--\r\n');
    expect(r.classification.kind).toBe('unparseable');
    expect(r.parseError).toMatch(/child nodes/);
  });

  it.each([
    ['an empty file', Buffer.alloc(0), /empty message/],
    ['binary junk', Buffer.from([0, 1, 2, 255, 254, 0, 10, 10, 0]), /no header fields/],
    ['text without a header', Buffer.from('just some words\nand more\n'), /no header fields/],
  ])('marks %s as unparseable', async (_name, raw, reason) => {
    const r = await parse(raw);
    expect(r.classification.kind).toBe('unparseable');
    expect(r.parseError).toMatch(reason);
  });
});

describe('htmlToText', () => {
  it('drops head, styles, scripts and comments, keeps block breaks, decodes entities', () => {
    expect(htmlToText('<head><style>x{}</style></head><div>a&lt;b</div><!-- c --><script>d()</script><p>e&#39;f&#x41;</p>')).toBe(
      'a<b\n\ne\'fA',
    );
    // HTML5 decoding (htmlparser2): unknown names stay as written, impossible code points are U+FFFD.
    expect(htmlToText('&bogus; &#0; &#xD800; J&uuml;rgen')).toBe('&bogus; \ufffd \ufffd Jürgen');
  });
});

describe('the delivery content stored at intake', () => {
  const forwarded = Buffer.from(
    [
      'From: Alice <alice@acme.example>',
      'To: support@acme.example',
      'Subject: Fwd: invoice',
      'Message-ID: <fwd-1@acme.example>',
      'Date: Sat, 28 Nov 2026 10:15:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'See below.',
      '--b1',
      'Content-Type: message/rfc822',
      'Content-Disposition: inline',
      '',
      'From: Bob <bob@partner.example>',
      'Subject: invoice',
      'Content-Type: multipart/mixed; boundary="b2"',
      '',
      '--b2',
      'Content-Type: text/plain',
      '',
      'The invoice is attached.',
      '--b2',
      'Content-Type: application/pdf; name="x.pdf"',
      'Content-Disposition: attachment; filename="x.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      'JVBERi0xLjQK',
      '--b2--',
      '--b1--',
      '',
    ].join('\r\n'),
  );
  const ref = () => ({ sha256: sha256Of(forwarded), size: forwarded.length });

  it('opens a forwarded message: its text and its PDF are delivered, the same from intake and from the raw mail', async () => {
    const r = await readMail(forwarded, ref());
    const again = await parseContent(forwarded);
    expect(again.text).toContain('The invoice is attached.');
    expect(again.attachments.map((a) => a.filename)).toContain('x.pdf');
    expect(again.attachments.map((a) => a.contentType)).not.toContain('message/rfc822');
    expect(again.attachments.map((a) => a.index)).toEqual(again.attachments.map((_, i) => i));
    // One parse path: what intake stores is what the deliverer would make.
    expect(r.content).toEqual(again);
  });

  it('opens at most MAX_OPENED forwarded mails however many a mail nests, keeping the rest as attachments', async () => {
    // 30 forwards, each forwarding 30 (a fan-out an attacker can make small): opening all would be 930 parses.
    const leaf = (n: string) => ['From: x@example.com', `Subject: leaf ${n}`, 'Content-Type: text/plain', '', `leaf ${n}`, ''].join('\r\n');
    const wrap = (subject: string, parts: string[]) =>
      [
        'From: a@example.com',
        'To: support@example.com',
        `Subject: ${subject}`,
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="B"',
        '',
        '--B',
        'Content-Type: text/plain',
        '',
        subject,
        ...parts.flatMap((p) => ['--B', 'Content-Type: message/rfc822', 'Content-Disposition: attachment', '', p]),
        '--B--',
        '',
      ].join('\r\n');
    const fan = Array.from({ length: 30 }, (_, i) => wrap(`fwd ${i}`, Array.from({ length: 30 }, (_, j) => leaf(`${i}.${j}`))));
    const raw = Buffer.from(wrap('outer', fan));
    const c = await parseContent(raw);
    const opened = (c.text.match(/^fwd \d+$/gm) ?? []).length + (c.text.match(/^leaf /gm) ?? []).length;
    expect(opened).toBe(MAX_OPENED);
    // Nothing is dropped: what was not opened is delivered as the .eml attachment it is.
    expect(c.attachments.filter((a) => a.contentType === 'message/rfc822').length).toBeGreaterThan(20);
  });

  it('a mail too big to parse whole at intake stores no content; the deliverer makes it from the whole raw mail', async () => {
    const r = await readMail(forwarded, ref(), { maxParseBytes: 200 });
    expect(r.record.truncated).toContain('parse-input');
    expect(r.content).toBeUndefined();
    expect((await parseContent(forwarded)).attachments.map((a) => a.filename)).toContain('x.pdf');
  });

  it('is stored for a human mail with attachments, equal to parseContent', async () => {
    const raw = fixture('human-idn-sender-encoded-names-attachments.eml');
    const r = await readMail(raw, { sha256: sha256Of(raw), size: raw.length });
    expect(r.record.classification.kind).toBe('human');
    expect(r.content?.attachments.length).toBeGreaterThan(0);
    expect(r.content).toEqual(await parseContent(raw));
  });
});
