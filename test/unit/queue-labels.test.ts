// Job names on the board (issue 19.11): the mail in words, bounded, and safe to show whatever
// the sender put in the subject.
import { describe, expect, it } from 'vitest';
import { humanRecord } from '../helpers/sim-run.js';
import { identityProvision, jiraDeliver, mailboxActions, mailInbound, notify } from '../../src/queues/catalog.js';
import { jobName } from '../../src/queues/define.js';
import { clip, MAX_JOB_NAME } from '../../src/queues/label.js';
import { auditLine } from '../../src/queues/story.js';

const inbound = (subject: string, from = 'ana@customer-one.test') => {
  const record = humanRecord({ from: { address: from }, messageId: '<m1@x.test>', subject: 'x' });
  return { mailboxId: 'support', origin: { kind: 'file' as const }, record: { ...record, subject }, receivedAt: '2026-12-01T00:00:00Z' };
};

describe('job names', () => {
  it('name a mail by mailbox, sender and subject on every queue', () => {
    expect(jobName(mailInbound, inbound('Printer jams'))).toBe('support: ana@customer-one.test "Printer jams"');
    expect(jobName(jiraDeliver, inbound('Printer jams'))).toBe('to Jira from support: ana@customer-one.test "Printer jams"');
    expect(jobName(mailInbound, inbound(''))).toBe('support: ana@customer-one.test (no subject)');
    expect(jobName(identityProvision, { site: 'acme.atlassian.net', email: 'ana@customer-one.test', mode: 'user', mailboxId: 'support' })).toBe(
      'Jira user for ana@customer-one.test (support)',
    );
    expect(jobName(mailboxActions, { mailboxId: 'support', uidvalidity: '7', uid: 42, outcome: 'delivered' })).toBe('support UID 42: finish (delivered)');
    expect(jobName(notify, { issueKey: 'SUP-1', event: 'issue_created', groups: ['support-agents'], users: [], eventId: 'e1', summary: 'Printer jams' })).toBe(
      'SUP-1 issue_created "Printer jams" to support-agents',
    );
  });

  it('cut a long subject with an ellipsis, within the name limit, never inside a character', () => {
    const name = jobName(mailInbound, inbound('🖨️'.repeat(200)));
    expect(Array.from(name).length).toBeLessThanOrEqual(MAX_JOB_NAME);
    expect(name.endsWith('…"')).toBe(true);
    expect(name).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/); // no lone high surrogate
    expect(clip('a'.repeat(10), 5)).toBe('aaaa…');
  });

  it('strip line breaks, control and bidi-override characters a hostile subject carries', () => {
    const name = jobName(mailInbound, inbound('Invoice\r\nX-Injected: 1\u0000\u202Egnp.exe\u2028end', 'evil@x.test'));
    expect(name).toBe('support: evil@x.test "Invoice X-Injected: 1 gnp.exe end"');
  });

  it('turn audit entries into story lines', () => {
    expect(auditLine({ step: 'lookup', outcome: 'not-found', email: 'ana@x.test', detail: 'from jira', jira: 'no account with this email' })).toBe(
      'lookup ana@x.test: not-found (from jira; no account with this email)',
    );
  });
});
