// The few error kinds Mailroom knows. Every failure is typed where it arises, so the one place
// that maps errors onto BullMQ (src/queues/worker.ts, outcomeOf) can decide: retry, fail for good, or
// pause the queues that need the workaround token.

export type ErrorKind = 'retryable' | 'permanent' | 'auth';

export abstract class MailroomError extends Error {
  abstract readonly kind: ErrorKind;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Worth trying again later: network trouble, 5xx, timeouts, a lost lock. */
export class RetryableError extends MailroomError {
  readonly kind = 'retryable' as const;
}

/**
 * What a Jira limit holds, from its `RateLimit-Reason` (docs/jira-rate-limits.md): one issue's
 * writes, one endpoint and method, or the whole site. Anything unnamed holds the site (the
 * stricter reading).
 */
export type RateLimitScope = 'issue' | 'endpoint' | 'site';

/** Jira's RateLimit-Reason values that hold less than the site. */
export const ISSUE_WRITE_REASON = 'jira-per-issue-on-write';
export const BURST_REASON = 'jira-burst-based';

export function rateLimitScopeOf(reason: string | undefined): RateLimitScope {
  const r = reason?.trim().toLowerCase();
  if (r === ISSUE_WRITE_REASON) return 'issue';
  if (r === BURST_REASON) return 'endpoint';
  return 'site';
}

/** Rate limited by Jira (429, or 503 with Retry-After). Every worker sharing the token waits, at the scope Jira named. */
export class RateLimitedError extends RetryableError {
  constructor(
    message: string,
    /** How long to wait before the next request in this scope, in milliseconds. */
    readonly retryAfterMs: number,
    readonly reason?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** What the limit holds: a job held below the site waits alone (the queue keeps running). */
  get scope(): RateLimitScope {
    return rateLimitScopeOf(this.reason);
  }
}

/** Will fail the same way however often it is tried: bad input, policy refusal, 4xx. */
export class PermanentError extends MailroomError {
  readonly kind = 'permanent' as const;
}

/** The thing asked for does not exist (404). */
export class NotFoundError extends PermanentError {}

/**
 * The workaround token does not work: 401, a 403 on a token-scoped call, or any response
 * carrying `X-Seraph-LoginReason: AUTHENTICATED_FAILED` (Jira answers some anonymous-allowed
 * endpoints with 200 and an empty result for a bad token: that is never "no such user").
 */
export class AuthError extends MailroomError {
  readonly kind = 'auth' as const;
  /** What is wrong with the token, for log lines and job stories ("no token stored" is not "refused"). */
  get headline(): string {
    return 'the workaround token was refused';
  }
}

/** Configuration that cannot be used; `problems` name the key path and what would be valid. */
export class ConfigError extends Error {
  constructor(readonly problems: { path: string; message: string }[]) {
    super(
      'Invalid configuration:\n' + problems.map((p) => `  - ${p.path || '(root)'}: ${p.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
