import { describe, expect, it } from 'vitest';
import { isFilterEmpty, matchesFilter, mailFacts, summarizeFailed, type JobLike } from '../../src/ops/failed-summary.js';

const sha = 'a'.repeat(64);
const mailJob: JobLike = {
  id: 'support:7:42',
  name: 'mail-inbound',
  data: {
    mailboxId: 'support',
    record: { subject: 'Printer on fire', from: { address: 'Ann@Example.com' }, messageId: '<m1@x>', rawRef: { sha256: sha, size: 512 } },
  },
  failedReason: 'policy refused: domain blocked',
  stacktrace: ['UnrecoverableError: policy refused'],
  attemptsMade: 1,
  opts: { attempts: 20 },
  timestamp: Date.parse('2026-11-28T10:00:00Z'),
  finishedOn: Date.parse('2026-11-28T10:00:05Z'),
};

describe('mailFacts', () => {
  it('reads sender, subject, message id and raw pointer from a mail record', () => {
    expect(mailFacts(mailJob.data)).toEqual({
      mailboxId: 'support',
      sender: 'Ann@Example.com',
      subject: 'Printer on fire',
      messageId: '<m1@x>',
      rawRef: { sha256: sha, size: 512 },
    });
  });
  it('takes a provision job email as the sender', () => {
    expect(mailFacts({ email: 'bob@example.net', site: 's', mailboxId: 'support' })).toEqual({ mailboxId: 'support', sender: 'bob@example.net' });
  });
  it('survives data of any shape (jobs outlive deploys)', () => {
    for (const d of [null, 42, 'x', [], { record: 'nope' }, { record: { from: 7, subject: 3, rawRef: { sha256: 1 } } }]) {
      expect(() => mailFacts(d)).not.toThrow();
    }
    expect(mailFacts({ record: { from: 7 } })).toEqual({});
  });
});

describe('summarizeFailed', () => {
  it('names the job as <queue>/<id> and dates the failure', () => {
    const s = summarizeFailed('mail-inbound', mailJob);
    expect(s).toMatchObject({
      ref: 'mail-inbound/support:7:42',
      reason: 'policy refused: domain blocked',
      attemptsMade: 1,
      maxAttempts: 20,
      failedAt: '2026-11-28T10:00:05.000Z',
      addedAt: '2026-11-28T10:00:00.000Z',
    });
  });
  it('says when no reason was recorded', () => {
    expect(summarizeFailed('q', { ...mailJob, failedReason: '' }).reason).toBe('(no reason recorded)');
  });
});

describe('matchesFilter', () => {
  const s = summarizeFailed('mail-inbound', mailJob);
  it.each([
    [{}, true],
    [{ sender: 'ann@example.com' }, true],
    [{ sender: ' ANN@EXAMPLE.COM ' }, true],
    [{ sender: 'bob@example.com' }, false],
    [{ reason: /BLOCKED/i }, true],
    [{ reason: /timeout/i }, false],
    [{ since: Date.parse('2026-11-28T10:00:05Z') }, true],
    [{ since: Date.parse('2026-11-28T10:00:06Z') }, false],
    [{ sender: 'ann@example.com', reason: /timeout/ }, false],
  ])('%o → %s', (f, want) => {
    expect(matchesFilter(s, f)).toBe(want);
  });
  it('a job without a sender never matches a sender filter', () => {
    expect(matchesFilter(summarizeFailed('notify', { ...mailJob, data: { issueKey: 'X-1' } }), { sender: 'a@b.c' })).toBe(false);
  });
  it('knows an empty filter', () => {
    expect(isFilterEmpty({})).toBe(true);
    expect(isFilterEmpty({ sender: 'a@b.c' })).toBe(false);
  });
});
