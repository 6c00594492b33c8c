import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/core/errors.js';
import { ingestFiles } from '../../src/mail/ingest-files.js';
import { listMailInputs } from '../../src/mail/mbox.js';
import type { MailRecord } from '../../src/mail/record.js';
import { FsMailStore } from '../../src/mail/store.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'mail');
let dir: string;
let store: FsMailStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailroom-ingest-'));
  store = new FsMailStore(join(dir, 'store'));
  // A tree like a corpus checkout: mail beside files that are not mail.
  await mkdir(join(dir, 'tree', 'sub'), { recursive: true });
  await writeFile(join(dir, 'tree', 'README.md'), '# not a mail\n');
  await writeFile(join(dir, 'tree', 'size-1'), ' ');
  await writeFile(join(dir, 'tree', 'a.eml'), 'From: a@example.com\nSubject: a\n\nA\n');
  await writeFile(join(dir, 'tree', 'sub', 'b.EML'), 'From: b@example.com\nSubject: b\n\nB\n');
  await writeFile(join(dir, 'tree', 'sub', 'archive'), 'From x@example.com Mon Nov  2 10:00:00 2026\nFrom: x@example.com\nSubject: in mbox\n\nX\n');
  await writeFile(join(dir, 'notes.txt'), 'Subject: named explicitly\n\nso it is taken\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('listMailInputs', () => {
  it('finds .eml files and mbox files in directories, recursively and sorted, and skips the rest', async () => {
    const inputs = await listMailInputs([join(dir, 'tree')]);
    expect(inputs).toEqual([
      { path: join(dir, 'tree', 'a.eml'), kind: 'eml' },
      { path: join(dir, 'tree', 'sub', 'archive'), kind: 'mbox' },
      { path: join(dir, 'tree', 'sub', 'b.EML'), kind: 'eml' },
    ]);
  });

  it('takes a file named explicitly whatever its name', async () => {
    expect(await listMailInputs([join(dir, 'notes.txt')])).toEqual([{ path: join(dir, 'notes.txt'), kind: 'eml' }]);
  });

  it('fails before reading anything when a path does not exist', async () => {
    await expect(listMailInputs([join(dir, 'tree'), join(dir, 'nope.eml')])).rejects.toThrow(NotFoundError);
    await expect(listMailInputs([join(dir, 'nope.eml')])).rejects.toThrow(`${join(dir, 'nope.eml')}: no such file or directory`);
  });
});

describe('ingestFiles', () => {
  it('stores, parses and classifies every mail, one row each, mbox messages numbered', async () => {
    const seen: [string, MailRecord][] = [];
    const rows = await ingestFiles([FIXTURES], { store, onMail: async (r, source) => void seen.push([source, r]) });
    // human-lookalikes/ is classification's precision corpus (classify-precision.test.ts).
    const bySource = Object.fromEntries(rows.map((r) => [r.source.slice(FIXTURES.length + 1), r]).filter(([s]) => !String(s).startsWith('human-lookalikes/')));
    expect(Object.keys(bySource)).toEqual([
      'bounce-postfix-dsn.eml',
      'html-only-with-style-and-entities.eml',
      'human-idn-sender-encoded-names-attachments.eml',
      'list-mail-with-list-id.eml',
      'outlook-out-of-office.eml',
      'own-notification-with-loop-header.eml',
      'two-messages-with-from-quoting.mbox#1',
      'two-messages-with-from-quoting.mbox#2',
      'unreadable-date-header.eml',
      'vacation-rfc3834-auto-submitted.eml',
    ]);
    expect(bySource['bounce-postfix-dsn.eml']).toMatchObject({ kind: 'bounce', from: 'mailer-daemon@mx.example.net', subject: 'Undelivered Mail Returned to Sender' });
    expect(bySource['two-messages-with-from-quoting.mbox#2']).toMatchObject({ kind: 'human', from: 'bob@example.com', subject: 'second', messageId: '<mbox2@example.com>' });
    expect(seen.map(([s]) => s)).toEqual(rows.map((r) => r.source));
    for (const row of rows) expect(await store.has(row.sha256!)).toBe(true);
  });

  it('turns a missing path into NotFoundError and stores nothing', async () => {
    const empty = new FsMailStore(join(dir, 'empty-store'));
    await expect(ingestFiles([join(dir, 'tree'), join(dir, 'missing')], { store: empty })).rejects.toThrow(NotFoundError);
    await expect(listMailInputs([join(dir, 'empty-store')])).rejects.toThrow(NotFoundError);
  });
});
