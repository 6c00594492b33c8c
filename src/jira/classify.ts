// Pure rules that turn a Jira answer into Mailroom's typed outcomes. Kept free of I/O so the
// table tests in test/unit/jira-classify.test.ts pin them down.
import { AuthError, NotFoundError, PermanentError, RateLimitedError, RetryableError, type MailroomError } from '../core/errors.js';
import { scrubSecrets } from '../core/log.js';
import { IssueLimitError, JiraServerError, PermissionError } from './errors.js';

/** When Jira rate-limits without saying for how long, wait this long: long enough not to hammer, short enough to recover quickly. */
export const DEFAULT_RETRY_AFTER_MS = 5_000;
/**
 * The longest one answer makes every worker wait. Jira Cloud's longest window is its hourly
 * quota; a Retry-After of days (a proxy's, a date from a wrong clock, `1e20`) would stop all
 * Jira work until a restart. After this long one request asks again, and Jira may say wait more.
 */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;

export interface HeaderSource {
  get(name: string): string | null;
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date. Undefined if absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  if (!/[a-z]/i.test(v)) return undefined; // an HTTP date names its day and month; "-5" is not one
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** `X-RateLimit-Reset` (an ISO 8601 timestamp on Jira Cloud) as milliseconds from `now`. */
export function parseRateLimitReset(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const at = Date.parse(value.trim());
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** How long an answer asks every client to wait: 429, or 503 with Retry-After; undefined for any other answer. */
export function retryAfterOf(status: number, headers: HeaderSource, now: number): number | undefined {
  if (status !== 429 && !(status === 503 && headers.get('retry-after') !== null)) return undefined;
  const ms = parseRetryAfter(headers.get('retry-after'), now) ?? parseRateLimitReset(headers.get('x-ratelimit-reset'), now) ?? DEFAULT_RETRY_AFTER_MS;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

/** The human part of a Jira error body: platform `errorMessages` + `errors`, or JSM `errorMessage`. */
export function jiraErrorText(body: unknown): string {
  if (typeof body === 'string') return body.trim().slice(0, 300);
  if (!body || typeof body !== 'object') return '';
  const b = body as { errorMessages?: unknown; errors?: unknown; errorMessage?: unknown; message?: unknown };
  const parts: string[] = [];
  if (Array.isArray(b.errorMessages)) parts.push(...b.errorMessages.filter((m): m is string => typeof m === 'string'));
  if (b.errors && typeof b.errors === 'object') {
    for (const [k, v] of Object.entries(b.errors as Record<string, unknown>)) parts.push(`${k}: ${String(v)}`);
  }
  if (typeof b.errorMessage === 'string') parts.push(b.errorMessage);
  if (parts.length === 0 && typeof b.message === 'string') parts.push(b.message);
  return parts.join('; ').slice(0, 500);
}

/** Jira's marker for a request whose credentials were refused, whatever the status. */
export function loginFailed(headers: HeaderSource): boolean {
  const reason = headers.get('x-seraph-loginreason') ?? '';
  return /AUTHENTICATED_FAILED|AUTHENTICATION_DENIED/i.test(reason);
}

/** Operations whose refusal means the token itself is refused (Jira answers them for any valid token). */
const TOKEN_OPERATIONS = new Set(['getCurrentUser']);

/** Jira's 400 when the caller may not set the reporter (no Modify reporter in the project). */
export const REPORTER_REFUSED = /field 'reporter' cannot be set/i;
/** The operation that sets a reporter: only its 400 may be REPORTER_REFUSED. */
const REPORTER_OPERATIONS = new Set(['createIssue']);

/**
 * Jira's words when it refuses a comment: "<display name>, you do not have the permission to
 * comment on this issue." It answers them with 400 (the Cloud spec lists no 403 for addComment;
 * docs/jira-simulator-workflow.md cites what is known): a missing Add comments on that issue,
 * from the project's scheme or the status's workflow properties, not a bad request.
 */
export const COMMENT_REFUSED = /you do not have (the )?permission to comment on this/i;

/**
 * Jira's 400 (`errors.commentLevel`) for a comment restricted to a project role the caller is
 * not in, or that the project lacks: "You are currently not a member of the project role: X.",
 * "Role with id: X does not exist." (answers quoted in public reports; docs/jira.md cites them).
 */
export const COMMENT_ROLE_REFUSED = /not a member of the project role|role with id: .* does not exist/i;
/** The operations whose 400 may be COMMENT_REFUSED or COMMENT_ROLE_REFUSED. */
const COMMENT_OPERATIONS = new Set(['addComment', 'createRequestComment']);
/** The PermissionError's `permission` for COMMENT_ROLE_REFUSED: Jira has no key for it. */
export const ROLE_MEMBERSHIP = 'membership of the project role the comment is restricted to';

/**
 * The permission a 403 on an operation stands for: Jira's project permission keys
 * (mypermissions), or what the admin must grant where Jira has no key.
 */
const PERMISSION_OF: Record<string, string> = {
  createIssue: 'CREATE_ISSUES',
  addAttachment: 'CREATE_ATTACHMENTS',
  addComment: 'ADD_COMMENTS',
  setIssueProperty: 'EDIT_ISSUES',
  getIssue: 'BROWSE_PROJECTS',
  getIssueProperty: 'BROWSE_PROJECTS',
  getIssueWatchers: 'BROWSE_PROJECTS',
  doTransition: 'TRANSITION_ISSUES',
  linkIssues: 'LINK_ISSUES',
  getProject: 'BROWSE_PROJECTS',
  searchAndReconsileIssuesUsingJqlPost: 'BROWSE_PROJECTS',
  createUser: 'ADMINISTER (Administer Jira global permission; organization admin where user management is centralized)',
  addUserToGroup: 'ADMINISTER (or site administration) to manage group membership',
  getUsersFromGroup: 'USER_PICKER (Browse users and groups)',
  createCustomer: 'ADMINISTER (Jira administrator) to create customers',
  addCustomers: 'ADMINISTER_PROJECTS on the service desk (agent/admin) to add customers',
  createCustomerRequest: 'agent access to the service desk (CREATE_ISSUES in its project)',
  getServiceDeskById: 'BROWSE_PROJECTS on the service desk project',
  getRequestTypeById: 'BROWSE_PROJECTS on the service desk project',
  getRequestParticipants: 'BROWSE_PROJECTS on the service desk project',
  // An internal note needs Add Comments only (collaborators add them); a public comment also an agent (docs/jira.md).
  createRequestComment: 'ADD_COMMENTS',
};

export function permissionFor(operation: string): string {
  return PERMISSION_OF[operation] ?? `the permission Jira asks for ${operation}`;
}

export interface AnswerInfo {
  operation: string;
  status: number;
  headers: HeaderSource;
  body: unknown;
  now: number;
}

/**
 * The error a Jira answer stands for, or undefined when it is a success. Callers handle the
 * statuses that are outcomes for them (409 "exists", 400 "already a member") before this.
 */
export function classifyAnswer(a: AnswerInfo): MailroomError | undefined {
  const text = scrubSecrets(jiraErrorText(a.body));
  const detail = text ? `: ${text}` : '';
  if (loginFailed(a.headers)) {
    return new AuthError(
      `Jira refused the workaround token on ${a.operation} (X-Seraph-LoginReason: ${a.headers.get('x-seraph-loginreason')}, status ${a.status}); an empty result here is not "not found"`,
    );
  }
  if (a.status >= 200 && a.status < 300) return undefined;
  if (a.status === 401) return new AuthError(`Jira refused the workaround token on ${a.operation} (401)${detail}`);
  if (a.status === 403) {
    // XSRF refusals are our own request's fault (a missing header), not the token's.
    if (/xsrf/i.test(text)) return new PermanentError(`Jira ${a.operation} refused the request (403)${detail}`);
    // /myself answers any valid token: a refusal there is the token's.
    if (TOKEN_OPERATIONS.has(a.operation)) return new AuthError(`Jira refused the workaround token on ${a.operation} (403)${detail}`);
    // Anywhere else a 403 is per resource (one project's scheme, one desk, one group): the token works.
    const permission = permissionFor(a.operation);
    return new PermissionError(`the workaround user lacks ${permission} for ${a.operation} (403)${detail}`, permission, a.operation);
  }
  // Words count only in the answer of the operation they belong to: other 400s can quote outside
  // text (JSM's "The user '<display name>' is not a customer…" names a customer after a mail's
  // From), which must not read as a refusal.
  if (a.status === 400 && REPORTER_OPERATIONS.has(a.operation) && REPORTER_REFUSED.test(text)) {
    return new PermissionError(`the workaround user lacks MODIFY_REPORTER in this project: Jira answered ${a.operation} with 400${detail}`, 'MODIFY_REPORTER', a.operation);
  }
  if (a.status === 400 && COMMENT_OPERATIONS.has(a.operation) && COMMENT_ROLE_REFUSED.test(text)) {
    return new PermissionError(`the workaround user may not restrict ${a.operation} to that project role (400)${detail}`, ROLE_MEMBERSHIP, a.operation);
  }
  if (a.status === 400 && COMMENT_OPERATIONS.has(a.operation) && COMMENT_REFUSED.test(text)) {
    return new PermissionError(`the workaround user lacks ADD_COMMENTS for ${a.operation} (400)${detail}`, 'ADD_COMMENTS', a.operation);
  }
  const wait = retryAfterOf(a.status, a.headers, a.now);
  if (wait !== undefined) {
    const ms = wait;
    const reason = a.headers.get('ratelimit-reason') ?? undefined;
    return new RateLimitedError(
      `Jira rate-limited ${a.operation} (${a.status}${reason ? `, ${reason}` : ''}); retry after ${ms} ms`,
      ms,
      reason,
    );
  }
  if (a.status >= 500) return new JiraServerError(`Jira ${a.operation} failed with ${a.status}${detail}`, a.status);
  if (a.status === 404) return new NotFoundError(`Jira ${a.operation}: not found (404)${detail}`);
  // The spec's 413 on addComment: "the per-issue limit has been breached" (comments or attachments).
  if (a.status === 413 && a.operation === 'addComment') {
    return new IssueLimitError(`Jira ${a.operation}: the issue holds Jira's per-issue limit of comments and takes no more (413)${detail}`, a.operation);
  }
  if (a.status === 408) return new RetryableError(`Jira ${a.operation} timed out on Jira's side (408)${detail}`);
  return new PermanentError(`Jira ${a.operation} rejected the request (${a.status})${detail}`);
}

/** Exact, case-insensitive email equality, as Mailroom means "this account is that sender". */
export function sameEmail(a: string | undefined, b: string): boolean {
  return !!a && a.trim().toLowerCase() === b.trim().toLowerCase();
}

/** A query is a full email (not a fragment) when it looks like local@domain.tld. */
export function isFullEmail(q: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(q.trim());
}
