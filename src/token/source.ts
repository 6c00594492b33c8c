// Where workers get the workaround token: `createTokenSource(...).client()` before each job's
// Jira calls. Cheap: one Redis round trip per call (the version and the gate flag); the token
// is decrypted and a client built only when the version changes, so a rotated token is picked
// up by the next job in every process. While the gate is tripped it refuses (TokenPausedError)
// instead of handing out a token known to be bad, so no Jira call is made with it.
import type { Config } from '../config/load.js';
import { describeError } from '../core/errors.js';
import type { Redis } from '../core/redis.js';
import { WrongKeyError, TamperedError } from './crypto.js';
import { TokenKeyError, TokenPausedError, TokenUnavailableError, tagTokenVersion } from './errors.js';
import { stateKey } from './gate.js';
import { loadSecretKey, type SecretKey } from './key.js';
import { NoTokenError, readTokenCredentials, tokenKey, type TokenCredentials } from './store.js';

/**
 * One-shot: the stored credentials, decrypted with the configured key. Throws NoTokenError,
 * WrongKeyError, TamperedError or SecretKeyError with messages that say what to do.
 */
export async function loadTokenCredentials(
  redis: Redis,
  config: Pick<Config, 'prefix' | 'secretKey'>,
  secretKey: SecretKey = loadSecretKey(config.secretKey),
): Promise<TokenCredentials> {
  const c = await readTokenCredentials(redis, config.prefix, secretKey);
  return { email: c.email, token: c.token, accountId: c.accountId, expiresAt: c.expiresAt, version: c.version };
}

export interface TokenSourceDeps<C extends object> {
  redis: Redis;
  prefix: string;
  secretKey: SecretKey;
  /** Build a Jira client for these credentials (e.g. createJiraClient with config.jira). */
  makeClient: (creds: TokenCredentials) => C;
}

export interface TokenSource<C extends object> {
  /**
   * A client on the current token. AuthErrors it throws carry the token's version, so the gate
   * can tell a revoked old token (just retry) from a bad current one (pause).
   * Throws TokenPausedError while the gate is tripped, TokenUnavailableError when no token can
   * be read: both AuthErrors, so the job waits without spending an attempt.
   */
  client(): Promise<C>;
  /** The credentials behind client() (for callers that build their own requests). */
  credentials(): Promise<TokenCredentials>;
  /** Drop the cache (e.g. on a 'stored' event). */
  invalidate(): void;
}

export function createTokenSource<C extends object>(deps: TokenSourceDeps<C>): TokenSource<C> {
  let cached: { version: number; creds: TokenCredentials; client: C } | undefined;

  async function current(): Promise<{ creds: TokenCredentials; client: C }> {
    const [[e1, version], [e2, paused]] = (await deps.redis
      .multi()
      .hget(tokenKey(deps.prefix), 'version')
      .hget(stateKey(deps.prefix), 'paused')
      .exec()) as [[Error | null, string | null], [Error | null, string | null]];
    if (e1 || e2) throw e1 ?? e2;
    if (paused === '1') {
      const err = new TokenPausedError('the token queues are paused after an auth failure: store a valid token with `mailroom token set`');
      if (version) tagTokenVersion(err, Number(version));
      throw err;
    }
    if (!version) throw new TokenUnavailableError(new NoTokenError().message);
    if (cached && cached.version === Number(version)) return cached;
    let creds: TokenCredentials;
    try {
      const c = await readTokenCredentials(deps.redis, deps.prefix, deps.secretKey);
      creds = { email: c.email, token: c.token, accountId: c.accountId, expiresAt: c.expiresAt, version: c.version };
    } catch (e) {
      // This process's key, not the token, is at fault: never a reason to pause every process.
      if (e instanceof WrongKeyError) throw new TokenKeyError(describeError(e));
      if (e instanceof NoTokenError || e instanceof TamperedError) {
        const err = new TokenUnavailableError(describeError(e));
        // Tagged, so a token stored meanwhile is not paused for this one's fault.
        tagTokenVersion(err, Number(version));
        throw err;
      }
      throw e;
    }
    const client = tagged(deps.makeClient(creds), creds.version);
    cached = { version: creds.version, creds, client };
    return cached;
  }

  return {
    client: async () => (await current()).client,
    credentials: async () => (await current()).creds,
    invalidate: () => {
      cached = undefined;
    },
  };
}

/** Wrap a client so every error its async methods throw carries the token version. */
function tagged<C extends object>(client: C, version: number): C {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        let r: unknown;
        try {
          r = (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (e) {
          tagTokenVersion(e, version);
          throw e;
        }
        if (r instanceof Promise) {
          return r.catch((e: unknown) => {
            tagTokenVersion(e, version);
            throw e;
          });
        }
        return r;
      };
    },
  });
}
