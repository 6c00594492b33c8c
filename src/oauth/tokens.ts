// An access token per `auth` block, cached until shortly before it lapses and then fetched
// again. Concurrent callers share one request. A token the mail server refused is dropped with
// invalidate(), so the next login asks the provider afresh. Tokens are registered with the log
// scrubber and never logged.
import type { Config } from '../config/load.js';
import { registerSecret, silentLogger, type Logger } from '../log.js';
import type { OAuthProvider } from './errors.js';
import { oauthKey } from './keys.js';
import { requestToken, type GrantOptions, type IssuedToken } from './grants.js';
import type { OAuthConfig } from './schema.js';
import type { OAuthSecrets } from './secrets.js';

export interface TokenSource {
  readonly provider: OAuthProvider;
  /** A token valid for a while yet: the cached one, or a new one. */
  get(): Promise<string>;
  /** Forget the cached token (the server refused it, or it was revoked). */
  invalidate(): void;
  /** When the cached token is due for replacement (epoch ms); 0 when none is cached. */
  readonly refreshAt: number;
}

/**
 * Replace a token this long before it expires: five minutes, or a fifth of its lifetime when
 * that is shorter. Leaves time for a login that starts just before the refresh point, and
 * keeps short-lived tokens (minutes) from being refreshed on every use.
 */
export function refreshMargin(lifetimeMs: number): number {
  return Math.min(5 * 60_000, Math.max(0, lifetimeMs) / 5);
}

export interface TokenSourceOptions extends Pick<GrantOptions, 'user' | 'timeoutMs'> {
  logger?: Logger;
  now?: () => number;
  /** The request itself (tests of the cache swap it; everything else uses requestToken). */
  request?: (auth: OAuthConfig, secrets: OAuthSecrets, opts: GrantOptions) => Promise<IssuedToken>;
}

export function createTokenSource(auth: OAuthConfig, secrets: OAuthSecrets, opts: TokenSourceOptions): TokenSource {
  const now = opts.now ?? Date.now;
  const log = (opts.logger ?? silentLogger).child({ oauth: auth.provider });
  const request = opts.request ?? requestToken;
  let cached: { token: string; refreshAt: number } | undefined;
  let inflight: Promise<string> | undefined;
  // A rotated refresh token replaces the configured one for the life of the process.
  let refreshToken: string | undefined;

  const fetchToken = async (): Promise<string> => {
    const started = now();
    const t = await request(auth, secrets, { user: opts.user, timeoutMs: opts.timeoutMs, now, ...(refreshToken ? { refreshToken } : {}) });
    registerSecret(t.accessToken);
    if (t.refreshToken) {
      registerSecret(t.refreshToken);
      refreshToken = t.refreshToken;
    }
    const lifetime = t.expiresAt - started;
    cached = { token: t.accessToken, refreshAt: t.expiresAt - refreshMargin(lifetime) };
    log.info({ user: opts.user, expiresAt: new Date(t.expiresAt).toISOString() }, 'obtained an OAuth access token');
    return t.accessToken;
  };

  return {
    provider: auth.provider,
    get refreshAt() {
      return cached?.refreshAt ?? 0;
    },
    get() {
      if (cached && now() < cached.refreshAt) return Promise.resolve(cached.token);
      inflight ??= fetchToken().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    invalidate() {
      cached = undefined;
    },
  };
}

// One source per auth block per process: the poller's reader and the mailbox-actions worker of
// a mailbox share its token, as do all the notifier's SMTP connections.
const sources = new WeakMap<Config, Map<string, TokenSource>>();

function sourceFor(config: Config, key: string, auth: OAuthConfig, user: string, logger?: Logger): TokenSource {
  let m = sources.get(config);
  if (!m) sources.set(config, (m = new Map()));
  let s = m.get(key);
  if (!s) {
    const secrets = config.secrets.oauth?.[key] ?? {};
    s = createTokenSource(auth, secrets, { user, ...(logger ? { logger } : {}) });
    m.set(key, s);
  }
  return s;
}

/** The token source of a mailbox whose IMAP login uses OAuth, or undefined for password logins. */
export function imapTokenSource(config: Config, mailboxId: string, logger?: Logger): TokenSource | undefined {
  const imap = config.mailboxes.find((m) => m.id === mailboxId)?.imap;
  if (!imap?.auth) return undefined;
  return sourceFor(config, oauthKey.imap(mailboxId), imap.auth, imap.user, logger);
}

/** The token source of the notifier's SMTP login, or undefined for password logins. */
export function smtpTokenSource(config: Config, logger?: Logger): TokenSource | undefined {
  const smtp = config.smtp;
  if (!smtp?.auth) return undefined;
  return sourceFor(config, oauthKey.smtp, smtp.auth, smtp.user ?? smtp.from, logger);
}
