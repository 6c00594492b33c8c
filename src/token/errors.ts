// AuthErrors the token layer raises, and the token version a failing call used.
import { AuthError, RetryableError } from '../core/errors.js';

/** The gate is tripped: the stored token is known to be bad, so no Jira call is made with it. */
export class TokenPausedError extends AuthError {}

/** No usable token (none stored, or it cannot be decrypted): jobs wait instead of failing. */
export class TokenUnavailableError extends AuthError {
  override get headline(): string {
    return 'there is no usable workaround token';
  }
}

/**
 * The stored token was sealed with another key than this process's (a token stored since
 * start by a process with another key). Not an AuthError: the token may be fine for every
 * other process, so this one must not pause the shared queues; its job is retried, most likely
 * by a process that has the right key.
 */
export class TokenKeyError extends RetryableError {}

const versions = new WeakMap<object, number>();

/** Remember which token version a failed call used (set by source.ts on the client's errors). */
export function tagTokenVersion(err: unknown, version: number): void {
  if (typeof err === 'object' && err !== null && !versions.has(err)) versions.set(err, version);
}

export function tokenVersionOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null ? versions.get(err) : undefined;
}
