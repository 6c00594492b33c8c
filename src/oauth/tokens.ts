// An access token per `auth` block, cached until shortly before it lapses and then fetched
// again. Concurrent callers share one request. A token the mail server refused is dropped with
// invalidate(), so the next login asks the provider afresh. Tokens are registered with the log
// scrubber and never logged.
import type { Config } from '../config/load.js';
import { registerSecret, silentLogger, type Logger } from '../core/log.js';
import { describeError } from '../core/errors.js';
import type { Redis } from '../core/redis.js';
import { loadSecretKey } from '../token/key.js';
import type { OAuthProvider } from './errors.js';
import { redisRefreshStore, type RefreshStore } from './refresh-store.js';
import { oauthKey } from '../config/oauth-keys.js';
import { requestToken, type GrantOptions, type IssuedToken } from './grants.js';
import type { OAuthConfig } from '../config/oauth-schema.js';
import type { OAuthSecrets } from '../config/oauth-secrets.js';

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
  /** Where rotated refresh tokens are kept across restarts and processes (refresh-store.ts). */
  refreshStore?: RefreshStore;
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

  const store = secrets.refreshToken ? opts.refreshStore : undefined;

  const fetchToken = async (): Promise<string> => {
    const started = now();
    // The stored chain is the latest: another process (or `mailroom mailboxes test`) may have rotated it.
    if (store) {
      const stored = await store.load().catch((e: unknown) => {
        log.warn({ err: describeError(e) }, 'cannot read the stored refresh token: using the one in memory or the environment');
        return undefined;
      });
      if (stored) {
        registerSecret(stored);
        refreshToken = stored;
      }
    }
    const t = await request(auth, secrets, { user: opts.user, timeoutMs: opts.timeoutMs, now, ...(refreshToken ? { refreshToken } : {}) });
    registerSecret(t.accessToken);
    if (t.refreshToken && t.refreshToken !== (refreshToken ?? secrets.refreshToken)) {
      registerSecret(t.refreshToken);
      refreshToken = t.refreshToken;
      await store?.save(t.refreshToken).catch((e: unknown) => {
        log.warn({ err: describeError(e) }, 'cannot store the rotated refresh token: a restart will use the one in the environment');
      });
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

export interface SourceDeps {
  logger?: Logger;
  /** Keeps rotated refresh tokens (sealed with MAILROOM_SECRET_KEY) across restarts. */
  redis?: Redis;
}

function sourceFor(config: Config, key: string, auth: OAuthConfig, user: string, deps: SourceDeps): TokenSource {
  let m = sources.get(config);
  if (!m) sources.set(config, (m = new Map()));
  let s = m.get(key);
  if (!s) {
    const secrets = config.secrets.oauth?.[key] ?? {};
    let refreshStore: RefreshStore | undefined;
    if (secrets.refreshToken && deps.redis) {
      try {
        refreshStore = redisRefreshStore(deps.redis, config.prefix, loadSecretKey(config.secretKey), key, secrets.refreshToken);
      } catch (e) {
        deps.logger?.warn({ auth: key, err: describeError(e) }, 'rotated refresh tokens are kept in memory only (set MAILROOM_SECRET_KEY to keep them across restarts)');
      }
    }
    s = createTokenSource(auth, secrets, { user, ...(deps.logger ? { logger: deps.logger } : {}), ...(refreshStore ? { refreshStore } : {}) });
    m.set(key, s);
  }
  return s;
}

/** The token source of a mailbox whose IMAP login uses OAuth, or undefined for password logins. */
export function imapTokenSource(config: Config, mailboxId: string, deps: SourceDeps = {}): TokenSource | undefined {
  const imap = config.mailboxes.find((m) => m.id === mailboxId)?.imap;
  if (!imap?.auth) return undefined;
  return sourceFor(config, oauthKey.imap(mailboxId), imap.auth, imap.user, deps);
}

/** The token source of the notifier's SMTP login, or undefined for password logins. */
export function smtpTokenSource(config: Config, deps: SourceDeps = {}): TokenSource | undefined {
  const smtp = config.smtp;
  if (!smtp?.auth) return undefined;
  return sourceFor(config, oauthKey.smtp, smtp.auth, smtp.user ?? smtp.from, deps);
}
