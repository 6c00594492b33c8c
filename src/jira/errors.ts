// Jira-specific outcomes that callers branch on; they extend the general classes in
// src/core/errors.ts so the BullMQ mapping still sees "permanent" / "retryable".
import { PermanentError, RetryableError } from '../core/errors.js';

/** Jira says the user or customer being created already exists: re-look it up, then carry on. */
export class AlreadyExistsError extends PermanentError {}

/**
 * Jira answered with a 5xx (and no Retry-After): the request reached Jira, which almost
 * always means the write did not happen.
 */
export class JiraServerError extends RetryableError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * No complete answer arrived (timeout, dropped or refused connection, body cut off): a write
 * may or may not have been applied, so look before writing again.
 */
export class JiraNoAnswerError extends RetryableError {}

/**
 * Jira refused one resource to the workaround user (a 403, or a 400 such as "Field 'reporter'
 * cannot be set"): a permission it lacks *there* (one project, one desk, one group). The token
 * itself works, so nothing pauses; the job's step fails or degrades, naming the permission.
 */
export class PermissionError extends PermanentError {
  constructor(
    message: string,
    /** Jira's permission key (CREATE_ATTACHMENTS, MODIFY_REPORTER, ...), or a phrase when Jira has no key for it. */
    readonly permission: string,
    readonly operation: string,
  ) {
    super(message);
  }
}

/**
 * Jira answered 413 to a comment: the issue holds Jira Cloud's per-issue limit of comments
 * (5,000), and takes no more. Other issues do: nothing about the project or the token.
 */
export class IssueLimitError extends PermanentError {
  constructor(
    message: string,
    readonly operation: string,
  ) {
    super(message);
  }
}

/**
 * POST /group/user answered 404 about the user, not the group ("group or user not found"): on
 * organizations with centralized user management a just-created account is unknown to Jira for
 * a while. Worth retrying for a bounded time; the caller names the user when it gives up.
 */
export class UserNotFoundYetError extends RetryableError {
  constructor(
    message: string,
    readonly accountId: string,
  ) {
    super(message);
  }
}
