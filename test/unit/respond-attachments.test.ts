// Which of the issue's files an agent's comment shows (its ADF media nodes), and how the mail
// names them: by REST id, else by a file name exactly one attachment has; hostile names made safe.
import { describe, expect, it } from 'vitest';
import { attachmentNote, humanSize, issueAttachments, matchMedia, mediaRefs, safeFilename } from '../../src/respond/attachments.js';
import { respondSchema } from '../../src/config/respond-schema.js';

const att = (id: string, filename: string, size = 10) => ({ id, filename, size, mimeType: 'application/pdf' });
const doc = (...content: unknown[]) => ({ type: 'doc', version: 1, content });
const media = (attrs: Record<string, unknown>) => ({ type: 'mediaSingle', content: [{ type: 'media', attrs: { type: 'file', collection: '', ...attrs } }] });

describe('mediaRefs', () => {
  it('finds media in mediaSingle, mediaGroup and inline, each once, and nothing in text', () => {
    const d = doc(
      { type: 'paragraph', content: [{ type: 'text', text: 'media alt=x.pdf' }, { type: 'mediaInline', attrs: { id: 'u3', alt: 'c.txt' } }] },
      media({ id: 'u1', alt: 'a.png' }),
      { type: 'mediaGroup', content: [{ type: 'media', attrs: { id: 'u2', alt: 'b.zip' } }, { type: 'media', attrs: { id: 'u1', alt: 'a.png' } }] },
    );
    expect(mediaRefs(d)).toEqual([{ id: 'u3', alt: 'c.txt' }, { id: 'u1', alt: 'a.png' }, { id: 'u2', alt: 'b.zip' }]);
  });

  it('is bounded on a hostile document (deep nesting, garbage attrs)', () => {
    let deep: unknown = media({ id: 'deep', alt: 'deep.bin' });
    for (let i = 0; i < 10_000; i++) deep = { type: 'x', content: [deep] };
    expect(mediaRefs(doc(deep))).toEqual([]);
    expect(mediaRefs(doc({ type: 'media', attrs: { id: 7, alt: null } }, null, 'text'))).toEqual([]);
    expect(mediaRefs(undefined)).toEqual([]);
  });
});

describe('matchMedia', () => {
  const files = [att('10001', 'report.pdf'), att('10002', 'photo.png'), att('10003', 'photo.png'), att('10004', 'internal.xlsx')];

  it('matches by REST id first, else by a name only one attachment has', () => {
    const r = matchMedia([{ id: '10002' }, { id: 'uuid-1', alt: 'report.pdf' }], files);
    expect(r.found.map((a) => a.id)).toEqual(['10002', '10001']);
    expect(r.leftOut).toEqual([]);
  });

  it('does not guess between two files of one name, and names what it cannot find', () => {
    const r = matchMedia([{ id: 'uuid-2', alt: 'photo.png' }, { id: 'uuid-3', alt: 'gone.doc' }, { id: 'uuid-4' }], files);
    expect(r.found).toEqual([]);
    expect(r.leftOut).toEqual([
      { name: 'photo.png', why: 'several files on the issue have this name' },
      { name: 'gone.doc', why: "not found among the issue's attachments" },
    ]);
  });

  it('never adds an issue file the comment does not show', () => {
    expect(matchMedia([{ alt: 'report.pdf' }], files).found.map((a) => a.filename)).toEqual(['report.pdf']);
  });

  it('reads the issue field leniently: malformed entries are left out', () => {
    expect(issueAttachments([{ id: 10005, filename: 'a.txt', size: 3, mimeType: 'text/plain' }, { id: 'x' }, null, 'junk'])).toEqual([att('10005', 'a.txt', 3)].map((a) => ({ ...a, mimeType: 'text/plain' })));
    expect(issueAttachments(undefined)).toEqual([]);
  });
});

describe('safeFilename', () => {
  it.each([
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\x\\evil.exe', 'evil.exe'],
    ['a\r\nX-Evil: 1.txt', 'aX-Evil: 1.txt'],
    ['\u202Egnp.exe', 'gnp.exe'],
    ['...', 'attachment'],
    ['', 'attachment'],
    ['.hidden', 'hidden'],
  ])('%j -> %j', (name, safe) => expect(safeFilename(name)).toBe(safe));

  it('caps the length', () => expect(safeFilename('x'.repeat(500))).toHaveLength(200));
});

describe('the note in the mail', () => {
  it('says what is attached, what is listed and what is not, with sizes', () => {
    expect(humanSize(12 * 1024 * 1024)).toBe('12 MB');
    expect(attachmentNote({ attached: [{ filename: 'a.png', size: 2048 }], leftOut: [{ name: 'report.zip', size: 12 * 1024 * 1024, why: 'too large (more than 5 MB)' }] })).toBe(
      'Attached: a.png (2 KB)\nNot attached: report.zip, 12 MB — too large (more than 5 MB)',
    );
    expect(attachmentNote({ attached: [], listed: [{ filename: 'b.pdf', size: 10 }], leftOut: [] })).toContain('- b.pdf, 10 B');
  });
});

describe('respond.attachments config', () => {
  it('defaults to files, 5 MiB a file, 7 MiB a mail', () => {
    expect(respondSchema.parse({}).attachments).toEqual({ mode: 'files', maxBytes: 5 * 1024 * 1024, maxTotalBytes: 7 * 1024 * 1024 });
  });

  it.each([
    [{ mode: 'urls' }, /mode/],
    [{ maxBytes: 0 }, /maxBytes/],
    [{ maxBytes: 1.5 }, /maxBytes/],
    [{ maxTotalBytes: 100 * 1024 * 1024 }, /maxTotalBytes/],
    [{ maxBytes: 6 * 1024 * 1024, maxTotalBytes: 5 * 1024 * 1024 }, /maxBytes \(one file\) cannot be more than maxTotalBytes/],
    [{ size: 1 }, /size/],
  ])('refuses %j', (attachments, why) => {
    const r = respondSchema.safeParse({ attachments });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(why);
  });
});
