// What went wrong with an IMAP connection, in words a person can act on, and how long to wait
// before trying again. Pure functions: table-tested in test/unit/imap-failure.test.ts.
import { OAuthTokenError, loginRefusedHint, type OAuthProvider } from '../oauth/errors.js';

export type ImapFailureKind =
  /** The server refused the user name or password. Repeated: the mailbox is parked. */
  | 'auth'
  /** The configured folder does not exist: a configuration problem, retried slowly. */
  | 'folder'
  /** The server could not be reached or the connection broke: retried with backoff. */
  | 'network'
  /** The poller lost its mailbox lock: another poller reads the mailbox now. */
  | 'lock-lost'
  /** Anything else (a server error, a store or Redis failure): retried with backoff. */
  | 'other';

export interface ImapFailure {
  kind: ImapFailureKind;
  message: string;
}

interface ErrorLike {
  message?: string;
  code?: string;
  authenticationFailed?: boolean;
  serverResponseCode?: string;
  responseText?: string;
  /** The server's SASL error for OAUTHBEARER/XOAUTH2 (e.g. {"status":"401","schemes":"bearer"}). */
  oauthError?: unknown;
  mailboxMissing?: boolean;
  responseStatus?: string;
  command?: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'GREETING_TIMEOUT',
  'ETIMEOUT',
  'NoConnection',
  'EConnectionClosed',
  'ClosedAfterConnectText',
  'ClosedAfterConnectTLS',
]);

export class LockLostError extends Error {
  constructor(mailboxId: string) {
    super(`lost the lock on mailbox ${mailboxId}: another poller reads it now`);
    this.name = 'LockLostError';
  }
}

/** Classify an error from imapflow (or our own code) while serving one mailbox. */
export function classifyImapFailure(
  err: unknown,
  ctx: { host: string; port: number; user: string; folder: string; oauth?: OAuthProvider },
): ImapFailure {
  if (err instanceof LockLostError) return { kind: 'lock-lost', message: err.message };
  // No token: the provider refused (counts towards parking, like a wrong password) or was unreachable.
  if (err instanceof OAuthTokenError) return { kind: err.refused ? 'auth' : 'network', message: err.message };
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as ErrorLike;
  const text = e.responseText || e.message || String(err);
  if (e.authenticationFailed || e.serverResponseCode === 'AUTHENTICATIONFAILED') {
    if (ctx.oauth) {
      const said = e.oauthError && typeof e.oauthError === 'object' ? ` ${JSON.stringify(e.oauthError)}` : '';
      return { kind: 'auth', message: `${ctx.host} refused the access token for ${ctx.user} (${text}${said}): ${loginRefusedHint(ctx.oauth, 'imap')}` };
    }
    return {
      kind: 'auth',
      message: `${ctx.host} refused the login of ${ctx.user} (${text}): check the password in the environment variable`,
    };
  }
  if (e.mailboxMissing || e.serverResponseCode === 'NONEXISTENT' || (e.command === 'SELECT' && /doesn'?t exist|not exist|unknown mailbox/i.test(text))) {
    return { kind: 'folder', message: `folder "${ctx.folder}" does not exist on ${ctx.host} for ${ctx.user}: create it or fix imap.folder` };
  }
  if (e.code && NETWORK_CODES.has(e.code)) {
    const what =
      e.code === 'ECONNREFUSED'
        ? 'connection refused'
        : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN'
          ? 'host name not found'
          : e.code.includes('TIMEOUT') || e.code === 'ETIMEDOUT'
            ? 'timed out'
            : 'connection lost';
    return { kind: 'network', message: `cannot reach IMAP server ${ctx.host}:${ctx.port} (${what}: ${e.message ?? e.code})` };
  }
  return { kind: 'other', message: text };
}

export interface BackoffPolicy {
  minMs: number;
  maxMs: number;
}

/**
 * Delay before reconnect attempt `failures` (1 = after the first failure): exponential from
 * minMs, capped at maxMs, with jitter over the upper half so that pollers that lost the same
 * server together do not come back as one herd.
 */
export function reconnectDelay(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const d = Math.min(policy.maxMs, policy.minMs * 2 ** Math.max(0, failures - 1));
  return Math.round(d / 2 + random() * (d / 2));
}

export interface RetryDecision {
  state: 'backoff' | 'parked';
  delayMs: number;
}

/**
 * What a mailbox does after a failure. Authentication failures park it after a few in a row
 * (retrying a wrong password only gets the account locked); a missing folder is retried at the
 * backoff cap, since only a person can fix it; everything else backs off exponentially.
 */
export function afterFailure(
  failure: ImapFailure,
  counts: { failures: number; authFailures: number },
  opts: BackoffPolicy & { authFailuresToPark: number; parkedRetryMs: number },
  random: () => number = Math.random,
): RetryDecision {
  if (failure.kind === 'auth' && counts.authFailures >= opts.authFailuresToPark) {
    return { state: 'parked', delayMs: opts.parkedRetryMs };
  }
  if (failure.kind === 'lock-lost') return { state: 'backoff', delayMs: 0 };
  if (failure.kind === 'folder') return { state: 'backoff', delayMs: opts.maxMs };
  return { state: 'backoff', delayMs: reconnectDelay(counts.failures, opts, random) };
}
