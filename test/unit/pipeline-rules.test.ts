import { describe, expect, it } from 'vitest';
import { AuthError, PermanentError, RateLimitedError, RetryableError } from '../../src/core/errors.js';
import { classifyAnswer } from '../../src/jira/classify.js';
import { JiraNoAnswerError } from '../../src/jira/errors.js';
import { normalizeMessageId } from '../../src/mail/id.js';
import { siteHost } from '../../src/jira/site.js';
import { answeredWithoutEffect } from '../../src/identity/provisioner.js';
import { recheckDelay } from '../../src/identity/waiters.js';

const headers = (h: Record<string, string> = {}) => ({ get: (n: string) => h[n.toLowerCase()] ?? null });

describe('answeredWithoutEffect: may a failed create be retried as a create?', () => {
  it.each([
    ['429 from Jira', classifyAnswer({ operation: 'createUser', status: 429, headers: headers({ 'retry-after': '2' }), body: '', now: 0 }), true],
    ['503 answer', classifyAnswer({ operation: 'createUser', status: 503, headers: headers(), body: {}, now: 0 }), true],
    ['500 answer', classifyAnswer({ operation: 'createUser', status: 500, headers: headers(), body: {}, now: 0 }), true],
    ['no answer (dropped connection)', new RetryableError('network error on Jira createUser: ECONNRESET'), false],
    ['no answer whose cause names a status', new JiraNoAnswerError('network error on Jira createUser: proxy request failed with 502'), false],
    ['timeout', new RetryableError('Jira createUser timed out after 15000 ms'), false],
    ['gate closed locally', new RateLimitedError("waiting out Jira's Retry-After (900 ms left)", 900), true],
    ['auth', new AuthError('refused'), false],
    ['permanent', new PermanentError('bad request'), false],
  ])('%s -> %s', (_what, err, expected) => {
    expect(answeredWithoutEffect(err)).toBe(expected);
  });
});

describe('small pipeline rules', () => {
  it('recheckDelay doubles from 2 s and stops at a minute', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map(recheckDelay)).toEqual([2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });
  it('siteHost is safe in BullMQ job ids', () => {
    expect(siteHost('https://Acme.atlassian.net/')).toBe('acme.atlassian.net');
    expect(siteHost('http://127.0.0.1:8080')).toBe('127.0.0.1_8080');
  });
  it('normalizeMessageId strips angle brackets', () => {
    expect(normalizeMessageId(' <a@b> ')).toBe('a@b');
    expect(normalizeMessageId('a@b')).toBe('a@b');
  });
});
