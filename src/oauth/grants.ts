// One token request per provider, in the shape each documents:
// - Entra ID v2 client credentials: POST {authority}/{tenant}/oauth2/v2.0/token with client_id,
//   scope, grant_type=client_credentials and either client_secret or a client assertion (a JWT
//   signed by the certificate's key, x5t = its SHA-1 thumbprint, aud = the token endpoint);
// - Google service account with domain-wide delegation: the JWT bearer grant (RFC 7523) with
//   iss = the service account, sub = the impersonated user, scope, aud = the token URI;
// - generic: client_credentials, or refresh_token (RFC 6749 4.4 / 6).
// Why not @azure/msal-node / google-auth-library: MSAL refuses any authority that is not https
// and first fetches instance discovery and OpenID metadata from it; google-auth-library posts
// to the fixed https://oauth2.googleapis.com/token. Neither could be tested against a local
// endpoint, and each grant is a single form POST. JWTs are signed with `jose`.
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import ky, { TimeoutError } from 'ky';
import { OAuthTokenError, describeTokenRefusal, type OAuthProvider } from './errors.js';
import { GOOGLE_TOKEN_URL, type OAuthConfig } from '../config/oauth-schema.js';
import type { OAuthSecrets } from '../config/oauth-secrets.js';

export interface IssuedToken {
  accessToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** A rotated refresh token, when the server sent one. */
  refreshToken?: string;
}

export interface GrantOptions {
  /** The mailbox user: Google impersonates it unless auth.subject says otherwise. */
  user: string;
  /** A token request that hangs must become a retry, not a stuck poller. */
  timeoutMs?: number;
  now?: () => number;
  /** The refresh token to use instead of the configured one (after a rotation). */
  refreshToken?: string;
}

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Assertions live 10 minutes (Entra ID's documented maximum is far longer; shorter is safer). */
const ASSERTION_LIFETIME_S = 600;

/** The token endpoint a configuration posts to. */
export function tokenEndpoint(auth: OAuthConfig, secrets: OAuthSecrets): string {
  if (auth.provider === 'microsoft') return `${auth.authority.replace(/\/+$/, '')}/${encodeURIComponent(auth.tenantId)}/oauth2/v2.0/token`;
  if (auth.provider === 'google') return auth.tokenUrl ?? secrets.serviceAccount?.tokenUri ?? GOOGLE_TOKEN_URL;
  return auth.tokenUrl;
}

export async function requestToken(auth: OAuthConfig, secrets: OAuthSecrets, opts: GrantOptions): Promise<IssuedToken> {
  const now = opts.now ?? Date.now;
  const url = tokenEndpoint(auth, secrets);
  const form = new URLSearchParams();
  const headers: Record<string, string> = { accept: 'application/json' };
  const who = auth.provider === 'google' ? (auth.subject ?? opts.user) : opts.user;
  if (auth.provider === 'microsoft') {
    form.set('client_id', auth.clientId);
    form.set('scope', auth.scope);
    form.set('grant_type', 'client_credentials');
    if (secrets.certificate) {
      const t = Math.floor(now() / 1000);
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5t: secrets.certificate.x5t })
        .setIssuer(auth.clientId)
        .setSubject(auth.clientId)
        .setAudience(url)
        .setJti(randomUUID())
        .setIssuedAt(t)
        .setNotBefore(t)
        .setExpirationTime(t + ASSERTION_LIFETIME_S)
        .sign(secrets.certificate.key);
      form.set('client_assertion_type', CLIENT_ASSERTION_TYPE);
      form.set('client_assertion', assertion);
    } else {
      form.set('client_secret', secrets.clientSecret ?? '');
    }
  } else if (auth.provider === 'google') {
    const sa = secrets.serviceAccount;
    if (!sa) throw new OAuthTokenError(`no service account key for ${who}`, true, 'google');
    const t = Math.floor(now() / 1000);
    const assertion = await new SignJWT({ scope: auth.scope })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: sa.privateKeyId })
      .setIssuer(sa.clientEmail)
      .setSubject(who)
      .setAudience(url)
      .setIssuedAt(t)
      .setExpirationTime(t + 3600)
      .sign(sa.key);
    form.set('grant_type', JWT_BEARER);
    form.set('assertion', assertion);
  } else {
    const refresh = opts.refreshToken ?? secrets.refreshToken;
    if (refresh) {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', refresh);
    } else {
      form.set('grant_type', 'client_credentials');
    }
    if (auth.scope) form.set('scope', auth.scope);
    if (auth.clientAuth === 'basic') {
      const enc = (s: string) => encodeURIComponent(s);
      headers.authorization = `Basic ${Buffer.from(`${enc(auth.clientId)}:${enc(secrets.clientSecret ?? '')}`).toString('base64')}`;
    } else {
      form.set('client_id', auth.clientId);
      if (secrets.clientSecret) form.set('client_secret', secrets.clientSecret);
    }
  }
  return post(url, form, headers, auth.provider, who, opts.timeoutMs ?? 15_000, now);
}

async function post(
  url: string,
  form: URLSearchParams,
  headers: Record<string, string>,
  provider: OAuthProvider,
  who: string,
  timeoutMs: number,
  now: () => number,
): Promise<IssuedToken> {
  const host = new URL(url).host;
  let res: Response;
  let text: string;
  try {
    res = await ky.post(url, { body: form, headers, retry: 0, timeout: timeoutMs, throwHttpErrors: false, redirect: 'error' });
    text = await res.text();
  } catch (e) {
    // The cause is not attached: ky's errors carry the request, and the request carries the secret.
    const what = e instanceof TimeoutError || (e as Error)?.name === 'TimeoutError' ? 'timed out' : 'unreachable';
    throw new OAuthTokenError(`cannot get a token for ${who}: ${host} ${what} (${(e as Error)?.message ?? String(e)})`, false, provider);
  }
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON: a proxy's or load balancer's page. Said below by status.
  }
  if (!res.ok) {
    if (typeof body.error !== 'string' && res.status < 500 && res.status !== 429) {
      return Promise.reject(new OAuthTokenError(`${host} answered the token request for ${who} with HTTP ${res.status} and no OAuth error: check the token endpoint URL`, true, provider));
    }
    throw describeTokenRefusal(provider, res.status, body, who);
  }
  const token = body.access_token;
  const expiresIn = Number(body.expires_in ?? 3600);
  if (typeof token !== 'string' || !token || !Number.isFinite(expiresIn) || expiresIn <= 0) {
    throw new OAuthTokenError(`${host} answered the token request for ${who} without a usable access_token/expires_in`, false, provider);
  }
  const out: IssuedToken = { accessToken: token, expiresAt: now() + expiresIn * 1000 };
  if (typeof body.refresh_token === 'string' && body.refresh_token) out.refreshToken = body.refresh_token;
  return out;
}
