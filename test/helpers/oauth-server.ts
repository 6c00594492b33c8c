// A local OAuth 2.0 authorization server for tests, over real HTTP on a loopback port. It
// speaks the request shapes the providers document and refuses anything else, so a test that
// passes against it has sent what Entra ID or Google would accept:
// - Entra ID v2 client credentials (POST /{tenant}/oauth2/v2.0/token), with a client secret or a
//   certificate-signed client assertion (RS256 or PS256, x5t or x5t#S256, aud = the endpoint);
// - Google's JWT bearer grant for a service account with domain-wide delegation (POST /google/token);
// - a generic token endpoint (POST /token): client_credentials or refresh_token;
// - RFC 7662 introspection (POST /introspect) for Dovecot's oauth2 passdb.
// It issues tokens with a short lifetime the test sets, expires and revokes them.
import { X509Certificate, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { compactVerify, decodeProtectedHeader } from 'jose';

export interface EntraApp {
  tenant: string;
  clientId: string;
  /** Accepted client secret (omit for certificate-only apps). */
  secret?: string;
  /** PEM of the uploaded certificate (its key signs the assertion). */
  certificatePem?: string;
  /** The mailbox the app's service principal may open (what introspection names). */
  mailbox: string;
}

export interface GoogleServiceAccount {
  clientEmail: string;
  privateKeyId: string;
  publicKeyPem: string;
  /** Users the admin allowed the service account to impersonate with https://mail.google.com/. */
  delegatedUsers: string[];
}

export interface GenericClient {
  clientId: string;
  secret?: string;
  refreshToken?: string;
  /** The mailbox its tokens open. */
  mailbox: string;
}

interface Issued {
  token: string;
  user: string;
  via: string;
  expiresAt: number;
  revoked: boolean;
}

export interface OAuthServer {
  url: string;
  port: number;
  /** Lifetime of tokens issued from now on. */
  ttlSeconds: number;
  /** Per-user lifetimes that override ttlSeconds. */
  ttlByUser: Map<string, number>;
  entra: EntraApp[];
  google: GoogleServiceAccount[];
  generic: GenericClient[];
  issued: Issued[];
  /** Every token request body (form fields), for asserting request shapes. */
  requests: { path: string; form: Record<string, string>; authorization?: string }[];
  /** How many introspections Dovecot made, and for which tokens. */
  introspections: { token: string; active: boolean }[];
  /** Revoke every token issued so far for a user, and refuse new ones (like a withdrawn grant). */
  revoke(user: string): void;
  /** Make a live token lapse now, as if its lifetime had run out. */
  expire(token: string): void;
  stop(): Promise<void>;
}

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export async function startOAuthServer(opts: { ttlSeconds?: number } = {}): Promise<OAuthServer> {
  const revokedUsers = new Set<string>();
  const state: Omit<OAuthServer, 'url' | 'port' | 'stop'> = {
    ttlSeconds: opts.ttlSeconds ?? 3600,
    ttlByUser: new Map(),
    entra: [],
    google: [],
    generic: [],
    issued: [],
    requests: [],
    introspections: [],
    revoke(user) {
      revokedUsers.add(user);
      for (const t of state.issued) if (t.user === user) t.revoked = true;
    },
    expire(token) {
      const t = state.issued.find((x) => x.token === token);
      if (t) t.expiresAt = Date.now() - 1;
    },
  };
  let url = '';

  const issue = (res: ServerResponse, user: string, via: string, extra: Record<string, unknown> = {}) => {
    if (revokedUsers.has(user)) {
      return json(res, 400, { error: 'invalid_grant', error_description: `access for ${user} was revoked` });
    }
    const token = `at-${via}-${randomBytes(12).toString('hex')}`;
    const ttl = state.ttlByUser.get(user) ?? state.ttlSeconds;
    state.issued.push({ token, user, via, expiresAt: Date.now() + ttl * 1000, revoked: false });
    json(res, 200, { token_type: 'Bearer', expires_in: ttl, access_token: token, ...extra });
  };

  const entraError = (res: ServerResponse, status: number, error: string, code: number, text: string) =>
    json(res, status, {
      error,
      error_description: `AADSTS${code}: ${text} Trace ID: 0000 Correlation ID: 0000 Timestamp: ${new Date().toISOString()}`,
      error_codes: [code],
    });

  async function entraToken(req: IncomingMessage, res: ServerResponse, tenant: string, form: Record<string, string>) {
    const endpoint = `${url}/${tenant}/oauth2/v2.0/token`;
    if (form.grant_type !== 'client_credentials') return entraError(res, 400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    const app = state.entra.find((a) => a.tenant === tenant);
    if (!app) return entraError(res, 400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
    if (form.client_id !== app.clientId) {
      return entraError(res, 400, 'unauthorized_client', 700016, `Application with identifier '${form.client_id}' was not found in the directory.`);
    }
    if (form.scope !== 'https://outlook.office365.com/.default') {
      return entraError(res, 400, 'invalid_scope', 1002012, `The provided value for scope ${form.scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.`);
    }
    if (form.client_secret !== undefined) {
      if (form.client_secret !== app.secret) return entraError(res, 401, 'invalid_client', 7000215, 'Invalid client secret provided.');
      return issue(res, app.mailbox, 'entra');
    }
    if (form.client_assertion_type !== ASSERTION_TYPE || !form.client_assertion || !app.certificatePem) {
      return entraError(res, 400, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    const cert = new X509Certificate(app.certificatePem);
    const header = decodeProtectedHeader(form.client_assertion);
    const sha1 = Buffer.from(cert.fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
    const sha256 = Buffer.from(cert.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url');
    if (header.x5t !== sha1 && header['x5t#S256'] !== sha256) {
      return entraError(res, 401, 'invalid_client', 700027, 'The certificate with identifier used to sign the client assertion is not registered on application.');
    }
    if (header.alg !== 'RS256' && header.alg !== 'PS256') return entraError(res, 401, 'invalid_client', 5002738, `Invalid JWT token. '${String(header.alg)}' is not a supported signature algorithm.`);
    const claims = await verifiedClaims(form.client_assertion, cert.publicKey);
    if (!claims) return entraError(res, 401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
    const now = Date.now() / 1000;
    if (claims.aud !== endpoint) return entraError(res, 401, 'invalid_client', 700212, `No matching federated identity record found for presented assertion audience '${String(claims.aud)}'.`);
    if (claims.iss !== app.clientId || claims.sub !== app.clientId) return entraError(res, 401, 'invalid_client', 700023, 'Client assertion issuer and subject must be the client id.');
    if (typeof claims.jti !== 'string' || !claims.jti) return entraError(res, 401, 'invalid_client', 7000274, 'Client assertion must contain a jti claim.');
    if (typeof claims.exp !== 'number' || claims.exp < now || (typeof claims.nbf === 'number' && claims.nbf > now + 300)) {
      return entraError(res, 401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
    }
    issue(res, app.mailbox, 'entra-cert');
  }

  async function googleToken(res: ServerResponse, form: Record<string, string>) {
    const endpoint = `${url}/google/token`;
    if (form.grant_type !== JWT_BEARER || !form.assertion) return json(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: ' + form.grant_type });
    const header = decodeProtectedHeader(form.assertion);
    const sa = state.google.find((s) => s.privateKeyId === header.kid);
    if (!sa || header.alg !== 'RS256') return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    const claims = await verifiedClaims(form.assertion, createPublicKey(sa.publicKeyPem));
    if (!claims) return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    const now = Date.now() / 1000;
    if (claims.iss !== sa.clientEmail) return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid issuer.' });
    if (claims.aud !== endpoint) return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.' });
    if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number' || claims.exp - claims.iat > 3600 || claims.exp < now || claims.iat > now + 300) {
      return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.' });
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    if (!scopes.includes('https://mail.google.com/') || !sa.delegatedUsers.includes(sub)) {
      return json(res, 401, {
        error: 'unauthorized_client',
        error_description: 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
      });
    }
    issue(res, sub, 'google');
  }

  function genericToken(req: IncomingMessage, res: ServerResponse, form: Record<string, string>) {
    let clientId = form.client_id;
    let secret = form.client_secret;
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) [clientId, secret] = Buffer.from(basic[1]!, 'base64').toString().split(':').map(decodeURIComponent) as [string, string];
    const c = state.generic.find((x) => x.clientId === clientId);
    if (!c || (c.secret !== undefined && c.secret !== secret)) return json(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
    if (form.grant_type === 'client_credentials') return issue(res, c.mailbox, 'generic');
    if (form.grant_type === 'refresh_token') {
      if (!c.refreshToken || form.refresh_token !== c.refreshToken) return json(res, 400, { error: 'invalid_grant', error_description: 'refresh token is invalid, expired or revoked' });
      // Rotating refresh tokens: the old one stops working once the new one is handed out.
      const next = `rt-${randomBytes(8).toString('hex')}`;
      c.refreshToken = next;
      return issue(res, c.mailbox, 'generic-refresh', { refresh_token: next });
    }
    json(res, 400, { error: 'unsupported_grant_type' });
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const body = await readBody(req);
      if (req.method !== 'POST') return json(res, 405, { error: 'invalid_request', error_description: 'POST only' });
      if (!/^application\/x-www-form-urlencoded\b/.test(req.headers['content-type'] ?? '')) {
        return json(res, 400, { error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' });
      }
      const form = Object.fromEntries(new URLSearchParams(body));
      if (path === '/introspect') {
        const t = state.issued.find((x) => x.token === form.token);
        const active = !!t && !t.revoked && t.expiresAt > Date.now();
        state.introspections.push({ token: form.token ?? '', active });
        return json(res, 200, active ? { active: true, username: t.user, exp: Math.floor(t.expiresAt / 1000) } : { active: false });
      }
      state.requests.push({ path, form, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      const entra = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
      if (entra) return entraToken(req, res, entra[1]!, form);
      if (path === '/google/token') return googleToken(res, form);
      if (path === '/token') return genericToken(req, res, form);
      json(res, 404, { error: 'not_found' });
    })().catch((e: unknown) => json(res, 500, { error: 'server_error', error_description: String(e) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  url = `http://127.0.0.1:${port}`;
  return Object.assign(state, {
    url,
    port,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

async function verifiedClaims(jwt: string, key: KeyObject): Promise<Record<string, unknown> | undefined> {
  try {
    const { payload } = await compactVerify(jwt, key);
    return JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
