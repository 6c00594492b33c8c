import { describe, expect, it } from 'vitest';
import { attachmentName } from '../../src/mail/content.js';
import { clipText, commentPreface, issueKeysIn, peopleOf, summaryOf } from '../../src/deliver/route.js';
import { mailKey, threadIds } from '../../src/mail/id.js';

const rawRef = { sha256: 'a'.repeat(64), size: 1 };

describe('summaryOf', () => {
  it.each([
    ['  Printer\tdown \r\n again ', 'Printer down again'],
    ['', '(no subject) mail from Ana Example'],
  ])('%j -> %j', (subject, want) => {
    expect(summaryOf(subject, { address: 'ana@x.example', name: 'Ana Example' })).toBe(want);
  });
  it('falls back to the address, then to a bare placeholder', () => {
    expect(summaryOf('   ', { address: 'ana@x.example' })).toBe('(no subject) mail from ana@x.example');
    // The name is the sender's claim: no bidi or invisible characters reach the summary.
    expect(summaryOf('', { address: 'ana@x.example', name: 'Ana \u202eelpmaxe' })).toBe('(no subject) mail from Ana elpmaxe');
    expect(summaryOf('', { address: 'ana@x.example', name: '\u200b\u2067' })).toBe('(no subject) mail from ana@x.example');
    expect(summaryOf('')).toBe('(no subject)');
  });
  it('is cut to 255 UTF-16 units without splitting an emoji', () => {
    const s = summaryOf('😀'.repeat(300));
    expect(s.length).toBeLessThanOrEqual(255);
    expect(s.endsWith('…')).toBe(true);
    expect(s.slice(0, -1)).toBe('😀'.repeat(127));
    expect(clipText('short', 255)).toBe('short');
  });
});

describe('issueKeysIn', () => {
  it.each([
    ['Re: [SUP-12] printer', ['SUP-12']],
    ['RE: SUP-12 and SUP-007, SUP-12 again', ['SUP-12', 'SUP-7']],
    ['XSUP-12 / SUP-12a / HD-3', ['SUP-12']],
    ['SUP-', []],
  ])('%j', (subject, want) => {
    expect(issueKeysIn(subject, 'SUP')).toEqual(want);
  });
  it('no project, no keys', () => {
    expect(issueKeysIn('SUP-1', undefined)).toEqual([]);
  });
});

describe('ids and people', () => {
  it('mailKey: Message-ID without brackets, else the raw hash', () => {
    expect(mailKey({ messageId: ' <abc@x.example> ', rawRef })).toBe('abc@x.example');
    expect(mailKey({ rawRef })).toBe(`sha256:${'a'.repeat(64)}`);
  });
  it('threadIds: In-Reply-To first, then References newest first, no repeats', () => {
    expect(threadIds({ inReplyTo: '<c@x>', references: ['<a@x>', '<b@x>', '<c@x>'] })).toEqual(['c@x', 'b@x', 'a@x']);
    expect(threadIds({ references: [] })).toEqual([]);
  });
  it('peopleOf: the sender reports, others with accounts participate', () => {
    expect(
      peopleOf([
        { email: 's@x', role: 'sender', status: 'known', accountId: 'S' },
        { email: 'c@x', role: 'cc', status: 'provisioned', accountId: 'C' },
        { email: 'd@x', role: 'cc', status: 'ignored' },
        { email: 's2@x', role: 'to', status: 'known', accountId: 'S' },
      ]),
    ).toEqual({ reporter: 'S', participants: ['C'] });
    expect(peopleOf([{ email: 's@x', role: 'sender', status: 'held' }])).toEqual({ participants: [] });
  });
  it('commentPreface names the writer and the date', () => {
    expect(commentPreface({ from: { address: 'ana@x.example', name: 'Ana' }, date: '2026-11-28T10:15:00.000Z' })).toBe('Ana <ana@x.example> wrote by mail on 2026-11-28 10:15:00 UTC:');
    expect(commentPreface({})).toBe('an unknown sender wrote by mail:');
    // The name is the sender's claim: a bidi override in it would show the real address reversed.
    expect(commentPreface({ from: { address: 'moc.rentrap@evil.test', name: 'Bob Partner \u202e' } })).toBe('Bob Partner <moc.rentrap@evil.test> wrote by mail:');
    expect(commentPreface({ from: { address: 'eve@evil.test', name: '\u2067\u200b\u202d' } })).toBe('eve@evil.test wrote by mail:');
  });
  it('attachmentName cleans path parts and invents a name when there is none', () => {
    expect(attachmentName('../../etc/passwd', 'text/plain', 0)).toBe('.._.._etc_passwd');
    expect(attachmentName(undefined, 'image/png', 2)).toBe('attachment-3.png');
    expect(attachmentName('', 'application/x-foo', 0)).toBe('attachment-1.bin');
  });

  it('attachmentName removes bidi overrides, isolates, marks and invisible characters, and C1 controls (issue 23)', () => {
    // Shown as "invoiceexe.pdf" with the override; without it the real extension is plain.
    expect(attachmentName('invoice\u202efdp.exe', 'application/octet-stream', 0)).toBe('invoicefdp.exe');
    expect(attachmentName('\u2067report\u2069\u200e\u200f\u202a\u202b\u202c\u202d.pdf', 'application/pdf', 0)).toBe('report.pdf');
    expect(attachmentName('a\u0085b\u009fc\u0007.txt', 'text/plain', 0)).toBe('a_b_c_.txt');
    expect(attachmentName('\u202e\u200b', 'image/png', 1)).toBe('attachment-2.png');
  });
});
