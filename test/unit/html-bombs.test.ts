// Hostile HTML through the converters: the bombs of issue #14 come out as (capped) text, and
// anchors stay links. Linear time is measured in `npm run bench`; here a quadratic step would
// show as a test running for minutes.
import { describe, expect, it } from 'vitest';
import { inline, textToAdf } from '../../src/deliver/adf.js';
import { htmlToLinkedTextCapped, MAX_BODY_CHARS } from '../../src/mail/content.js';
import { parseContent } from '../../src/mail/parse.js';
import { htmlToText, htmlToTextCapped } from '../../src/mail/html-text.js';

const A_BOMB = '<a href=x>'.repeat(200_000); // 2 MB, the first bomb
const P_BOMB = 'Hello ' + '<p x'.repeat(145_000); // 0.58 MB of an unterminated tag
const NEST_BOMB = '<b>'.repeat(100_000) + '</i>'.repeat(100_000);

describe('HTML to text on hostile input', () => {
  it('turns the anchor bomb into no text, without links to unsafe hrefs', () => {
    expect(htmlToLinkedTextCapped(A_BOMB)).toEqual({ text: '', cut: false });
  });

  it('keeps the text before an unterminated tag run', () => {
    expect(htmlToText(P_BOMB)).toBe('Hello');
  });

  it('survives a nesting bomb of unmatched tags', () => {
    expect(htmlToText(NEST_BOMB + 'after')).toBe('after');
  });

  it('caps the input and the output, and says so', () => {
    expect(htmlToTextCapped('<p>' + 'x'.repeat(100), { maxInputChars: 50 })).toEqual({ text: 'x'.repeat(47), cut: true, cutBy: 'input' });
    expect(htmlToTextCapped('<p>' + 'word '.repeat(1000), { maxChars: 20 }).cut).toBe(true);
    expect(htmlToTextCapped('<p>' + 'word '.repeat(1000), { maxChars: 20 }).text.length).toBeLessThanOrEqual(20);
  });

  it('collapses a megabyte of blanks as it reads, so the text after them survives the cap', () => {
    expect(htmlToTextCapped('a' + ' '.repeat(1_000_000) + 'b', { maxChars: 100 })).toEqual({ text: 'a b', cut: false });
  });

  it('caps links too: marks count against the budget, and no anchor is left half-marked', () => {
    const r = htmlToLinkedTextCapped('<a href="https://x.example/">y</a>'.repeat(10_000), { maxChars: 1000 });
    expect(r.cut).toBe(true);
    const doc = textToAdf(r.text);
    const nodes = doc.content.flatMap((p) => (p as { content: { text: string; marks?: unknown[] }[] }).content);
    expect(nodes.every((n) => n.marks)).toBe(true);
  });

  it('removes anchor marks a mail brings itself, and does not rescan unfinished marks', () => {
    expect(htmlToText('a\u0001b\u0002c\u0003d')).toBe('abcd');
    const forged = '\u0001'.repeat(200_000) + '\u0002x\u0003';
    const nodes = inline(forged);
    expect(nodes.at(-1)).toEqual({ type: 'text', text: 'x', marks: [{ type: 'link', attrs: { href: 'x' } }] });
  });

  it('does not backtrack on long runs in plain text (URL punctuation, trailing blanks)', () => {
    const url = 'https://a.example/' + '.'.repeat(100_000) + 'x';
    expect(inline(url)[0]!.text).toBe(url);
    const doc = textToAdf('a' + ' '.repeat(200_000) + 'b\n\nOn x wrote:\n'.repeat(20_000), { stripQuotedHistory: true });
    expect(doc.content.length).toBeGreaterThan(0);
  });
});

describe('delivered content of an HTML bomb mail', () => {
  const mail = (html: string) =>
    Buffer.from(`From: a@x.example\r\nTo: b@y.example\r\nSubject: bomb\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n`);

  it('is cut to the body budget with the reason, the 10 MB variant included', async () => {
    const c = await parseContent(mail('<p>' + 'hello world '.repeat(900_000)));
    expect(c.fromHtml).toBe(true);
    expect(c.text.length).toBeLessThanOrEqual(MAX_BODY_CHARS);
    expect(c.cut).toMatch(/longer than 30,000 characters/);
    const bomb = await parseContent(mail('<a href=x>'.repeat(1_000_000)));
    expect(bomb.text).toBe('');
    expect(bomb.cut).toMatch(/only the first .* characters of the mail's HTML/);
  });

  it('refuses a mail the parser cannot read as permanent (never retried)', async () => {
    const parts = Array.from({ length: 1100 }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`).join('');
    const raw = Buffer.from(`From: a@x.example\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${parts}--b--\r\n`);
    await expect(parseContent(raw)).rejects.toMatchObject({ kind: 'permanent', message: expect.stringMatching(/cannot be parsed for delivery .*child nodes/) as unknown });
  });
});
