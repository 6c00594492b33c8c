import { describe, expect, it } from 'vitest';
import { AuthError, NotFoundError, PermanentError, RateLimitedError, RetryableError } from '../../src/core/errors.js';
import { JiraServerError, PermissionError } from '../../src/jira/errors.js';
import { classifyAnswer, DEFAULT_RETRY_AFTER_MS, jiraErrorText, parseRateLimitReset, parseRetryAfter, retryAfterOf, ROLE_MEMBERSHIP } from '../../src/jira/classify.js';

const NOW = Date.parse('2026-11-28T12:00:00Z');

function answer(status: number, headers: Record<string, string> = {}, body: unknown = '') {
  return classifyAnswer({ operation: 'findUsers', status, headers: new Headers(headers), body, now: NOW });
}

describe('parseRetryAfter', () => {
  it.each([
    ['120', 120_000],
    ['0', 0],
    ['1.5', 1_500],
    [' 7 ', 7_000],
    ['Sat, 28 Nov 2026 12:00:30 GMT', 30_000],
    ['Sat, 28 Nov 2026 11:59:00 GMT', 0], // a date already past means "now"
  ])('%s -> %d ms', (v, ms) => {
    expect(parseRetryAfter(v, NOW)).toBe(ms);
  });

  it.each([null, undefined, '', 'soon', '-5'])('%s is unreadable', (v) => {
    expect(parseRetryAfter(v, NOW)).toBeUndefined();
  });
});

describe('retryAfterOf', () => {
  it('holds every worker at most an hour, whatever the header says', () => {
    // Before: Retry-After 1e20 s, or a date in 9999, stopped all Jira work until a restart.
    for (const h of [{ 'Retry-After': '100000000000000000000' }, { 'Retry-After': 'Fri, 31 Dec 9999 23:59:59 GMT' }, { 'X-RateLimit-Reset': '9999-12-31T23:59:59Z' }] as Record<string, string>[]) {
      expect(retryAfterOf(429, new Headers(h), NOW)).toBe(3_600_000);
      expect((answer(429, h) as RateLimitedError).retryAfterMs).toBe(3_600_000);
    }
    expect(retryAfterOf(429, new Headers({ 'Retry-After': '1800' }), NOW)).toBe(1_800_000);
  });
});

describe('parseRateLimitReset', () => {
  it('reads an ISO timestamp', () => {
    expect(parseRateLimitReset('2026-11-28T12:01:00Z', NOW)).toBe(60_000);
    expect(parseRateLimitReset('2026-11-28T12:01Z', NOW)).toBe(60_000);
    expect(parseRateLimitReset('garbage', NOW)).toBeUndefined();
  });
});

describe('jiraErrorText', () => {
  it('joins platform errorMessages and per-field errors', () => {
    expect(jiraErrorText({ errorMessages: ['Bad thing'], errors: { summary: 'required' } })).toBe('Bad thing; summary: required');
  });
  it('reads JSM errorMessage', () => {
    expect(jiraErrorText({ errorMessage: 'An account already exists for this email' })).toBe('An account already exists for this email');
  });
  it('keeps plain text short', () => {
    expect(jiraErrorText('x'.repeat(1000))).toHaveLength(300);
  });
});

describe('classifyAnswer', () => {
  it('2xx without a login failure is success', () => {
    expect(answer(200)).toBeUndefined();
    expect(answer(204)).toBeUndefined();
  });

  it('a 200 carrying X-Seraph-LoginReason: AUTHENTICATED_FAILED is an auth failure, never an empty result', () => {
    const e = answer(200, { 'X-Seraph-LoginReason': 'AUTHENTICATED_FAILED' }, []);
    expect(e).toBeInstanceOf(AuthError);
    expect(e!.message).toMatch(/not "not found"/);
  });

  it('captcha lockout (AUTHENTICATION_DENIED) is an auth failure too', () => {
    expect(answer(403, { 'X-Seraph-LoginReason': 'AUTHENTICATION_DENIED' })).toBeInstanceOf(AuthError);
  });

  it('401 is an auth failure; a 403 is a permission on one resource (never AuthError) except on /myself; an XSRF 403 is our own request\'s fault', () => {
    expect(answer(401)).toBeInstanceOf(AuthError);
    const perm = answer(403, {}, { errorMessages: ['You do not have the permission'] });
    expect(perm).toBeInstanceOf(PermissionError);
    expect(perm).not.toBeInstanceOf(AuthError);
    expect(perm!.kind).toBe('permanent');
    const upload = classifyAnswer({ operation: 'addAttachment', status: 403, headers: new Headers(), body: { errorMessages: ['You do not have permission to create attachments for this issue.'] }, now: NOW });
    expect((upload as PermissionError).permission).toBe('CREATE_ATTACHMENTS');
    expect(upload!.message).toMatch(/CREATE_ATTACHMENTS/);
    expect(classifyAnswer({ operation: 'getCurrentUser', status: 403, headers: new Headers(), body: '', now: NOW })).toBeInstanceOf(AuthError);
    const xsrf = answer(403, {}, { errorMessages: ['XSRF check failed'] });
    expect(xsrf).toBeInstanceOf(PermanentError);
    expect(xsrf).not.toBeInstanceOf(AuthError);
  });

  it("a 400 \"Field 'reporter' cannot be set\" is a missing MODIFY_REPORTER, not a bad request", () => {
    const e = classifyAnswer({ operation: 'createIssue', status: 400, headers: new Headers(), body: { errorMessages: [], errors: { reporter: "Field 'reporter' cannot be set. It is not on the appropriate screen, or unknown." } }, now: NOW });
    expect(e).toBeInstanceOf(PermissionError);
    expect((e as PermissionError).permission).toBe('MODIFY_REPORTER');
    const other = classifyAnswer({ operation: 'createIssue', status: 400, headers: new Headers(), body: { errors: { summary: 'required' } }, now: NOW });
    expect(other).not.toBeInstanceOf(PermissionError);
  });

  it('a refused comment is a missing ADD_COMMENTS whether Jira answers 400 (its known answer) or 403', () => {
    const words = { errorMessages: ['Mailroom Bot, you do not have the permission to comment on this issue.'], errors: {} };
    for (const status of [400, 403]) {
      const e = classifyAnswer({ operation: 'addComment', status, headers: new Headers(), body: words, now: NOW });
      expect(e, String(status)).toBeInstanceOf(PermissionError);
      expect(e).not.toBeInstanceOf(AuthError);
      expect((e as PermissionError).permission).toBe('ADD_COMMENTS');
      expect(e!.message).toMatch(/you do not have the permission to comment on this issue/);
    }
    // Any other 400 on a comment stays a bad request of ours.
    const invalid = classifyAnswer({ operation: 'addComment', status: 400, headers: new Headers(), body: { errorMessages: [], errors: { comment: 'Comment body is not valid!' } }, now: NOW });
    expect(invalid).toBeInstanceOf(PermanentError);
    expect(invalid).not.toBeInstanceOf(PermissionError);
  });

  it('a comment restricted to a role the caller is not in, or that the site lacks (400 commentLevel), is a role refusal, not a bad request nor a token', () => {
    for (const words of ['You are currently not a member of the project role: Developers.', 'Role with id: Administrators does not exist.']) {
      const e = classifyAnswer({ operation: 'addComment', status: 400, headers: new Headers(), body: { errorMessages: [], errors: { commentLevel: words } }, now: NOW });
      expect(e, words).toBeInstanceOf(PermissionError);
      expect(e).not.toBeInstanceOf(AuthError);
      expect((e as PermissionError).permission).toBe(ROLE_MEMBERSHIP);
      expect(e!.message).toContain(words);
    }
  });

  it('429 carries Retry-After and the reason', () => {
    const e = answer(429, { 'Retry-After': '42', 'RateLimit-Reason': 'jira-burst-based' });
    expect(e).toBeInstanceOf(RateLimitedError);
    expect((e as RateLimitedError).retryAfterMs).toBe(42_000);
    expect((e as RateLimitedError).reason).toBe('jira-burst-based');
    expect(e!.kind).toBe('retryable');
  });

  it('429 without Retry-After falls back to X-RateLimit-Reset, then to a default', () => {
    expect((answer(429, { 'X-RateLimit-Reset': '2026-11-28T12:00:10Z' }) as RateLimitedError).retryAfterMs).toBe(10_000);
    expect((answer(429) as RateLimitedError).retryAfterMs).toBe(DEFAULT_RETRY_AFTER_MS);
  });

  it('503 with Retry-After is a rate limit; without it, a plain retryable failure', () => {
    expect(answer(503, { 'Retry-After': '3' })).toBeInstanceOf(RateLimitedError);
    const plain = answer(503);
    expect(plain).toBeInstanceOf(RetryableError);
    expect(plain).not.toBeInstanceOf(RateLimitedError);
  });

  it.each([500, 502, 504, 408])('%d is retryable', (s) => {
    expect(answer(s)).toBeInstanceOf(RetryableError);
  });

  it('5xx answers say so in their type and status (the request reached Jira)', () => {
    const e = answer(502);
    expect(e).toBeInstanceOf(JiraServerError);
    expect((e as JiraServerError).status).toBe(502);
    expect(e!.message).toMatch(/failed with 502/);
    expect(answer(503, { 'Retry-After': '1' })).not.toBeInstanceOf(JiraServerError);
  });

  it('404 is NotFound (which is permanent)', () => {
    const e = answer(404, {}, { errorMessages: ['Issue does not exist'] });
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e!.kind).toBe('permanent');
    expect(e!.message).toContain('Issue does not exist');
  });

  it('other 4xx are permanent with Jira\'s words in the message', () => {
    const e = answer(400, {}, { errorMessages: [], errors: { products: 'products is required' } });
    expect(e).toBeInstanceOf(PermanentError);
    expect(e!.message).toContain('products: products is required');
    expect(answer(412, {}, { errorMessage: 'experimental' })!.message).toContain('experimental');
  });
});
