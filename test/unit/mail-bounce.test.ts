// What a bounce says (src/mail/bounce.ts, src/mail/header-block.ts): the failed recipients of an
// RFC 3464 report and the returned mail's Message-ID, read through the real parser
// (parseMail); a Postfix-style report without a status part; hostile reports held to their caps
// (no timing here: the caps are what keep the work linear, and they are asserted); and the
// corpus of real bounces neither crashes the reader nor stops being classified a bounce.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBounce } from '../../src/mail/bounce.js';
import { DSN_LIMITS, parseHeaderBlocks } from '../../src/mail/header-block.js';
import { parseMail } from '../../src/mail/parse.js';
import { MAX_RECORD_BYTES, mailRecordSchema, type MailRecord } from '../../src/mail/record.js';
import { sha256Of } from '../../src/mail/store.js';
import { bounceNoteLines, jiraTextSafe } from '../../src/respond/bounce-note.js';
import { sentOf } from '../../src/identity/bounce.js';
import { corpusPath, notice } from '../helpers/corpus.js';

async function parse(raw: string | Buffer): Promise<MailRecord> {
  const buf = typeof raw === 'string' ? Buffer.from(raw) : raw;
  const record = await parseMail(buf, { sha256: sha256Of(buf), size: buf.length });
  mailRecordSchema.parse(record);
  expect(Buffer.byteLength(JSON.stringify(record))).toBeLessThanOrEqual(MAX_RECORD_BYTES);
  return record;
}

const OURS = 'mailroom.r.0123456789abcdef0123456789abcdef@example.test';

/** An RFC 3464 report written for this test: one failed, one delayed recipient, our mail's headers returned. */
const RFC3464 = [
  'From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>',
  'To: support@example.test',
  'Subject: Delivery Status Notification (Failure)',
  'Message-ID: <dsn-1@mx.customer.example>',
  'Date: Sun, 06 Dec 2026 10:00:00 +0000',
  'MIME-Version: 1.0',
  'Content-Type: multipart/report; report-type=delivery-status; boundary="rep"',
  '',
  '--rep',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'This is the mail system at host mx.customer.example.',
  '--rep',
  'Content-Type: message/delivery-status',
  '',
  'Reporting-MTA: dns; mx.customer.example',
  'Arrival-Date: Sun, 06 Dec 2026 09:59:58 +0000',
  '',
  'Final-Recipient: rfc822; Nora@Customer.example',
  'Original-Recipient: rfc822;nora@customer.example',
  'Action: failed',
  'Status: 5.1.1',
  'Remote-MTA: dns; inbound.customer.example',
  'Diagnostic-Code: smtp; 550 5.1.1 <nora@customer.example>: Recipient address',
  '    rejected: User unknown in virtual mailbox table',
  '',
  'Final-Recipient: rfc822; ops@customer.example',
  'Action: delayed',
  'Status: 4.4.1',
  '',
  '--rep',
  'Content-Type: text/rfc822-headers',
  '',
  'From: support@example.test',
  'To: nora@customer.example',
  'Subject: [SUP-1] Cannot log in',
  `Message-ID: <${OURS}>`,
  'In-Reply-To: <r-1@customer.example>',
  '--rep--',
  '',
].join('\r\n');

describe('readBounce through the parser', () => {
  it('an RFC 3464 report: each recipient with its action, status and unfolded diagnostic; the returned Message-ID', async () => {
    const r = await parse(RFC3464);
    expect(r.classification.kind).toBe('bounce');
    expect(r.bounce).toEqual({
      ids: [OURS],
      standard: true,
      recipients: [
        { recipient: 'nora@customer.example', action: 'failed', status: '5.1.1', diagnostic: 'smtp; 550 5.1.1 <nora@customer.example>: Recipient address rejected: User unknown in virtual mailbox table' },
        { recipient: 'ops@customer.example', action: 'delayed', status: '4.4.1' },
      ],
    });
  });

  it('a non-standard "Undelivered Mail Returned to Sender": no status part, X-Failed-Recipients, the mail enclosed as message/rfc822', async () => {
    const raw = [
      'From: MAILER-DAEMON@mail.customer.example (Mail Delivery System)',
      'To: support@example.test',
      'Subject: Undelivered Mail Returned to Sender',
      'X-Failed-Recipients: nora@customer.example',
      'Message-ID: <bounce-2@mail.customer.example>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="m"',
      '',
      '--m',
      'Content-Type: text/plain',
      '',
      'I\'m sorry to have to inform you that your message could not be delivered.',
      '--m',
      'Content-Type: message/rfc822',
      '',
      'From: support@example.test',
      `Message-ID: <${OURS}>`,
      'Subject: Re: [SUP-1] Cannot log in',
      '',
      'An agent wrote: Message-ID: <not-this-one@example.test> (the body is never read)',
      '--m--',
      '',
    ].join('\r\n');
    const r = await parse(raw);
    expect(r.classification.kind).toBe('bounce');
    expect(r.bounce).toEqual({ ids: [OURS], standard: false, recipients: [{ recipient: 'nora@customer.example', action: 'failed' }] });
  });

  it('qmail\'s "failure notice": the returned header inline in the text', async () => {
    const raw = [
      'From: MAILER-DAEMON@qmail.example',
      'To: support@example.test',
      'Subject: failure notice',
      '',
      'Hi. This is the qmail-send program at qmail.example.',
      '<nora@customer.example>:',
      'Sorry, no mailbox here by that name. (#5.1.1)',
      '',
      '--- Below this line is a copy of the message.',
      '',
      'From: support@example.test',
      `Message-ID: <${OURS}>`,
      '',
    ].join('\r\n');
    const r = await parse(raw);
    expect(r.bounce).toMatchObject({ ids: [OURS], standard: false, recipients: [] });
  });

  it('only bounces carry the field: a person quoting a Message-ID line gets none', async () => {
    const r = await parse(`From: nora@customer.example\r\nTo: support@example.test\r\nSubject: hi\r\n\r\nMessage-ID: <${OURS}>\r\n`);
    expect(r.classification.kind).toBe('human');
    expect(r.bounce).toBeUndefined();
  });
});

describe('hostile reports stay within their caps', () => {
  it('20,000 folded continuation lines: one bounded value, the rest of the report not read, flagged', async () => {
    const folded = Array.from({ length: 20_000 }, (_, i) => `  continuation ${i} of a very long diagnostic`).join('\r\n');
    const raw = RFC3464.replace('    rejected: User unknown in virtual mailbox table', `${folded}`);
    expect(raw.length).toBeGreaterThan(800_000);
    const r = await parse(raw);
    const nora = r.bounce!.recipients[0]!;
    expect(nora.recipient).toBe('nora@customer.example');
    expect(nora.action).toBe('failed');
    expect(nora.diagnostic!.length).toBeLessThanOrEqual(300);
    expect(r.bounce!.cut).toEqual(expect.arrayContaining(['chars', 'value']));
    // The part is read from its first 64 KB only: the second recipient's block is beyond it.
    expect(r.bounce!.recipients).toHaveLength(1);
  });

  it('the block reader: a value stops collecting at its cap, fields and blocks are counted', () => {
    const value = parseHeaderBlocks(`Diagnostic-Code: x\n${' y\n'.repeat(20_000)}`, { ...DSN_LIMITS, maxChars: 10_000_000 });
    expect(value.blocks[0]![0]![1].length).toBeLessThanOrEqual(DSN_LIMITS.maxValueChars);
    expect(value.cut).toContain('value');
    const fields = parseHeaderBlocks(Array.from({ length: 20_000 }, (_, i) => `X-F${i}: v`).join('\n'), { ...DSN_LIMITS, maxChars: 10_000_000 });
    expect(fields.blocks.flat()).toHaveLength(DSN_LIMITS.maxFields);
    expect(fields.cut).toEqual(['fields']);
    const blocks = parseHeaderBlocks(Array.from({ length: 20_000 }, (_, i) => `A: ${i}\n`).join('\n'), { ...DSN_LIMITS, maxChars: 10_000_000 });
    expect(blocks.blocks).toHaveLength(DSN_LIMITS.maxBlocks);
    expect(blocks.cut).toEqual(['blocks']);
    const chars = parseHeaderBlocks('A: 1\n'.repeat(100_000));
    expect(chars.cut).toContain('chars');
  });

  it('many recipients and many returned mails: at most 3 of each, flagged', () => {
    const status = ['Reporting-MTA: dns; x', '', ...Array.from({ length: 50 }, (_, i) => `Final-Recipient: rfc822; u${i}@x.example\nAction: failed\n`)].join('\n');
    const returned = Array.from({ length: 10 }, (_, i) => ({ contentType: 'message/rfc822', content: `Message-ID: <m${i}@x>\n\nbody` }));
    const b = readBounce([{ contentType: 'message/delivery-status', content: status }, ...returned]);
    expect(b.recipients).toHaveLength(3);
    expect(b.ids).toEqual(['m0@x', 'm1@x', 'm2@x']);
    expect(b.cut).toEqual(expect.arrayContaining(['recipients', 'ids']));
  });

  it('control characters, bidi overrides and overlong text leave a diagnostic one bounded line', () => {
    const status = `Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@x.example\nAction: FAILED (permanent)\nStatus: 5.7.1 (blocked)\nDiagnostic-Code: smtp; 550 \u202eevil\u0007 ${'z'.repeat(2000)}\n`;
    const b = readBounce([{ contentType: 'message/delivery-status', content: Buffer.from(status) }]);
    expect(b.recipients[0]).toMatchObject({ recipient: 'a@x.example', action: 'failed', status: '5.7.1' });
    // eslint-disable-next-line no-control-regex
    expect(b.recipients[0]!.diagnostic).not.toMatch(/[\u0000-\u001f\u202e]/);
    expect(b.recipients[0]!.diagnostic!.length).toBeLessThanOrEqual(300);
  });
});

describe('the note', () => {
  const job = {
    kind: 'bounce' as const,
    mailboxId: 'support',
    issueKey: 'SUP-1',
    bounceMail: 'dsn-1@mx.customer.example',
    ourKey: 'a'.repeat(64),
    sent: { kind: 'acknowledge' as const, to: 'nora@customer.example', at: '2026-12-06T09:59:00.000Z' },
    recipients: [{ recipient: 'nora@customer.example', action: 'failed', status: '5.1.1', diagnostic: 'smtp; 550 [click|http://evil.example] {html}' }],
    reporter: 'mailer-daemon@mx.customer.example',
    reportedAt: '2026-12-06T10:00:00.000Z',
  };
  it('says who did not get which mail, when, and what the report claims; never our Message-ID', () => {
    const text = bounceNoteLines(job).join('\n');
    expect(text).toContain('The acknowledgement of SUP-1, sent to nora@customer.example at 2026-12-06T09:59:00.000Z, did not arrive');
    expect(text).toContain('- nora@customer.example: failed, status 5.1.1 (permanent): smtp; 550');
    expect(text).toContain('mailer-daemon@mx.customer.example');
    expect(text).not.toContain('mailroom.r.');
    expect(bounceNoteLines({ ...job, sent: { ...job.sent, kind: 'comment', commentId: '10042' } }).join('\n')).toContain('Comment 10042 mailed from SUP-1');
  });
  it('JSM wiki markup in a remote server\'s words cannot make links, images or macros', () => {
    expect(jiraTextSafe('550 [click|http://evil.example] !img.png! {html}')).toBe('550 (click/http://evil.example) .img.png. (html)');
  });
  it('which mail it was, from the responder\'s job id', () => {
    const e = { issueKey: 'SUP-1', kind: 'issue' as const, mailboxId: 's', at: '', respondedTo: 'x@y' };
    expect(sentOf({ ...e, jobId: 'respond|acknowledge|support|SUP-1|x@y' })).toEqual({ kind: 'acknowledge' });
    expect(sentOf({ ...e, jobId: 'respond|comment|SUP-1|10042' })).toEqual({ kind: 'comment', commentId: '10042' });
    expect(sentOf({ ...e, jobId: 'something else' })).toEqual({ kind: 'other' });
  });
});

describe('the corpus of real bounces', () => {
  const dir = corpusPath('sisimai-set-of-emails');
  if (!dir) notice('bounce corpus test skipped: ../shared/corpora/sisimai-set-of-emails is absent');
  it.skipIf(!dir)('no report crashes the reader, and what was a bounce still is one', { timeout: 120_000 }, async () => {
    const files = walk(dir!).slice(0, 2000);
    expect(files.length).toBeGreaterThan(50);
    let bounces = 0;
    let withIds = 0;
    for (const f of files) {
      const r = await parse(readFileSync(f));
      if (r.classification.kind !== 'bounce') continue;
      bounces++;
      expect(r.bounce, f).toBeDefined();
      if (r.bounce!.ids.length) withIds++;
      for (const x of r.bounce!.recipients) expect(x.diagnostic?.length ?? 0).toBeLessThanOrEqual(300);
    }
    // Most of a bounce corpus is bounces, and most real reports return the mail's header.
    expect(bounces).toBeGreaterThan(files.length / 2);
    expect(withIds).toBeGreaterThan(bounces / 2);
  });
});

function walk(d: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name);
    const s = statSync(p);
    if (s.isDirectory()) out.push(...walk(p));
    else if (/\.(eml|txt)$/i.test(name) || /^\d/.test(name)) out.push(p);
  }
  return out;
}
