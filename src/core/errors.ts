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

/** Rate limited by Jira (429, or 503 with Retry-After). Every worker sharing the token waits. */
export class RateLimitedError extends RetryableError {
  constructor(
    message: string,
    /** How long to wait before the next request to this site, in milliseconds. */
    readonly retryAfterMs: number,
    readonly reason?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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

export function errorKind(err: unknown): ErrorKind {
  if (err instanceof MailroomError) return err.kind;
  // Anything untyped is treated as retryable: a bug that throws will exhaust its attempts
  // and land in the failed set with its stack, rather than vanish.
  return 'retryable';
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
