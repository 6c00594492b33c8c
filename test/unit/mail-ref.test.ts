// A mail's ids all come from src/mail/ref.ts. The forms below are the ones stored today in
// queued jobs, the Redis ledger and Jira's `mailroom.message` / `mailroom.comments` properties:
// recovery and dedupe match on them, so a change here would duplicate issues on upgrade.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { actionJobId, auditForms, auditSubjectOf, deliverJobId, inboundJobId, jobId, ledgerKeyOf, mailKeyOf, mailRef, messageIdOfKey } from '../../src/mail/ref.js';
import { askMailboxAction } from '../../src/deliver/outcome.js';
import { jiraDeliver, mailInbound, mailboxActions } from '../../src/queues/catalog.js';
import { sourceFiles } from '../helpers/code-shape.js';

const SHA = 'ab'.repeat(32);
const OTHER = 'cd'.repeat(32);
const imapRef = mailRef({ mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '1700000000', uid: 42 }, record: { messageId: '<CAF=abc@mail.example.com>', rawRef: { sha256: SHA, size: 10 } } });
const fileRef = mailRef({ mailboxId: 'support', origin: { kind: 'file', name: 'a.eml' }, record: { rawRef: { sha256: SHA, size: 10 } } });

describe('a mail\'s ids keep their stored forms', () => {
  it('mail-inbound job: the IMAP position, or the hash for a file', () => {
    expect(inboundJobId(imapRef)).toBe('support:1700000000:42');
    expect(inboundJobId(fileRef)).toBe(SHA);
  });
  it('jira-deliver job: mailbox and the Message-ID as written (":" as "_"), the hash added for a second mail under one id', () => {
    expect(deliverJobId(imapRef)).toBe('deliver|support|<CAF=abc@mail.example.com>');
    expect(deliverJobId({ mailboxId: 'support', messageId: '<a:b@c>', sha256: SHA })).toBe('deliver|support|<a_b@c>');
    expect(deliverJobId(fileRef)).toBe(`deliver|support|${SHA}`);
    expect(deliverJobId(imapRef, true)).toBe(`deliver|support|<CAF=abc@mail.example.com>|${SHA}`);
  });
  it('mailbox-actions job, and the `|` scheme of every other job id', () => {
    expect(actionJobId('support', '1700000000', 42)).toBe('action|support|1700000000|42');
    expect(jobId('notify', 'wh-ts-1-SUP-1-comment_created')).toBe('notify|wh-ts-1-SUP-1-comment_created');
    expect(jobId('respond', 'comment', 'SUP-1', '10001', 'a:b')).toBe('respond|comment|SUP-1|10001|a_b');
  });
  it('a mail at a UID given out again (a new epoch) gets a mailbox-actions job of its own', async () => {
    // Completed action jobs are kept a day and failed ones until removed: under the old id the
    // reused UID's add was a no-op, and the new mail was never moved or flagged.
    const epoch = '1765100000000';
    expect(actionJobId('support', '1700000000', 42, epoch)).toBe(`action|support|1700000000~${epoch}|42`);
    const added: unknown[] = [];
    const ctx = { add: async (_q: unknown, data: unknown) => void added.push(data) };
    const origin = { kind: 'imap' as const, uidvalidity: '1700000000', uid: 42, epoch };
    await askMailboxAction({ data: { mailboxId: 'support', origin }, ctx } as never);
    const payload = mailboxActions.payload.parse(added[0]);
    expect(mailboxActions.jobId(payload)).toBe(`action|support|1700000000~${epoch}|42`);
    // Before any reuse (and jobs queued by the previous version): the id as it was.
    expect(mailboxActions.jobId(mailboxActions.payload.parse({ mailboxId: 'support', uidvalidity: '1700000000', uid: 42, outcome: 'delivered' }))).toBe('action|support|1700000000|42');
  });
  it('the catalog derives its ids from the same functions', () => {
    const data = { mailboxId: 'support', origin: imapRef.position, record: { messageId: '<CAF=abc@mail.example.com>', rawRef: { sha256: SHA, size: 10 } } };
    expect(mailInbound.jobId({ ...data, receivedAt: '' } as never)).toBe(inboundJobId(imapRef));
    expect(jiraDeliver.jobId(data as never)).toBe(deliverJobId(imapRef));
    expect(mailboxActions.jobId({ mailboxId: 'support', uidvalidity: '1700000000', uid: 42 } as never)).toBe('action|support|1700000000|42');
  });
  it('ledger key: the Message-ID without <>, `sha256:<hash>` without one, `#sha256:` for a second mail under a taken id', () => {
    expect(mailKeyOf(imapRef)).toBe('CAF=abc@mail.example.com');
    expect(mailKeyOf(fileRef)).toBe(`sha256:${SHA}`);
    expect(ledgerKeyOf(imapRef, undefined)).toBe('CAF=abc@mail.example.com');
    expect(ledgerKeyOf(imapRef, SHA)).toBe('CAF=abc@mail.example.com');
    expect(ledgerKeyOf(imapRef, OTHER)).toBe(`CAF=abc@mail.example.com#sha256:${SHA}`);
    expect(ledgerKeyOf(fileRef, OTHER)).toBe(`sha256:${SHA}`);
  });
  it('the Message-ID a stored key names (the reply loop threads to it), none for a bare hash', () => {
    expect(messageIdOfKey('CAF=abc@mail.example.com')).toBe('<CAF=abc@mail.example.com>');
    expect(messageIdOfKey(`CAF=abc@mail.example.com#sha256:${SHA}`)).toBe('<CAF=abc@mail.example.com>');
    expect(messageIdOfKey(`sha256:${SHA}`)).toBeUndefined();
  });
  it('one audit subject for every step of a mail: its Message-ID key, else its inbound job id', () => {
    expect(auditSubjectOf(imapRef)).toBe('CAF=abc@mail.example.com');
    expect(auditSubjectOf({ ...imapRef, messageId: undefined })).toBe('support:1700000000:42');
    expect(auditSubjectOf(fileRef)).toBe(SHA);
  });
  it('mailroom audit takes any form of a mail', () => {
    expect(auditForms('<CAF=abc@mail.example.com>')).toContain('CAF=abc@mail.example.com');
    expect(auditForms('deliver|support|<CAF=abc@mail.example.com>')).toContain('CAF=abc@mail.example.com');
    expect(auditForms(`deliver|support|<CAF=abc@mail.example.com>|${SHA}`)).toContain('CAF=abc@mail.example.com');
    expect(auditForms(`sha256:${SHA}`)).toEqual(expect.arrayContaining([`sha256:${SHA}`, SHA]));
    expect(auditForms(SHA)).toEqual(expect.arrayContaining([`sha256:${SHA}`, SHA]));
  });
});

describe('ids are made only in src/mail/ref.ts', () => {
  const SRC = join(import.meta.dirname, '../../src');
  // A job id or ledger key spelled out elsewhere: a queue prefix in a template, or the hash forms.
  const BUILT = /[`'](deliver|action|provision|notify|respond)\|(\$\{|')|#sha256:\$\{|`\$\{[^}]*\}:\$\{[^}]*uidvalidity|\.join\('\|'\)\.replace\(/;
  // Display text, not ids: the failed-job view names the raw source by its hash.
  const ALLOWED = new Set(['cli/commands/failed.ts']);
  const files = sourceFiles(SRC).filter((f) => !/\/(jira-sim|mail\/ref\.ts)/.test(f));
  it('the check sees an id built by hand', () => {
    expect(BUILT.test('const id = `deliver|${mailbox}|${mid}`;')).toBe(true);
    expect(BUILT.test('const k = `${base}#sha256:${sha}`;')).toBe(true);
    expect(BUILT.test("['respond', d.kind, d.issueKey].join('|').replace(/:/g, '_')")).toBe(true);
    expect(BUILT.test('`${d.mailboxId}:${d.origin.uidvalidity}:${d.origin.uid}`')).toBe(true);
  });
  it('no other file in src/ builds one', () => {
    expect(files.length).toBeGreaterThan(100);
    const offenders = files.map((f) => f.slice(SRC.length + 1)).filter((rel) => !ALLOWED.has(rel) && BUILT.test(readFileSync(join(SRC, rel), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
