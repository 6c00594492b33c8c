// Who may see the board, and who may act on it. Three modes:
//   basic - HTTP basic auth: an admin pair (MAILROOM_WEB_USER/PASSWORD) and optionally a
//           read-only viewer pair (MAILROOM_WEB_READONLY_USER/PASSWORD). Compared in
//           constant time.
//   proxy - a reverse proxy in front authenticates people and passes the user in a header
//           (MAILROOM_WEB_PROXY_HEADER, e.g. X-Forwarded-User). The header is trusted only on
//           connections from loopback: the assumption is that the proxy runs on the same host
//           (or in the same network namespace / pod) and is the only thing that can reach the
//           loopback port, and that it overwrites or strips the header on every request it
//           forwards. From any other peer the header is ignored and the request refused.
//   none  - no authentication; allowed only bound to loopback and asked for with --no-auth.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/load.js';

export type Role = 'admin' | 'viewer';

export type WebAuth =
  | { mode: 'basic'; users: { user: string; password: string; role: Role }[] }
  | { mode: 'proxy'; header: string }
  | { mode: 'none' };

export type AuthResult = { ok: true; user: string; role: Role } | { ok: false; why: string };

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A peer address as Node reports it (IPv4, IPv6, or IPv4-mapped IPv6). */
export function isLoopbackAddress(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

export class WebAuthError extends Error {}

/**
 * Decide the auth mode from the configuration and the --no-auth flag, or refuse to start.
 * Credentials win over --no-auth (asking for less security never silently removes a password).
 */
export function resolveWebAuth(webAuth: Config['webAuth'], opts: { host: string; noAuth?: boolean }): WebAuth {
  const users: { user: string; password: string; role: Role }[] = [];
  if (!!webAuth.user !== !!webAuth.password) {
    throw new WebAuthError('MAILROOM_WEB_USER and MAILROOM_WEB_PASSWORD must be set together');
  }
  if (!!webAuth.readonlyUser !== !!webAuth.readonlyPassword) {
    throw new WebAuthError('MAILROOM_WEB_READONLY_USER and MAILROOM_WEB_READONLY_PASSWORD must be set together');
  }
  if (webAuth.user && webAuth.password) users.push({ user: webAuth.user, password: webAuth.password, role: 'admin' });
  if (webAuth.readonlyUser && webAuth.readonlyPassword) {
    users.push({ user: webAuth.readonlyUser, password: webAuth.readonlyPassword, role: 'viewer' });
  }
  if (webAuth.proxyHeader) {
    if (users.length) throw new WebAuthError('choose one: basic-auth credentials or MAILROOM_WEB_PROXY_HEADER, not both');
    if (!/^[A-Za-z0-9-]+$/.test(webAuth.proxyHeader)) throw new WebAuthError(`MAILROOM_WEB_PROXY_HEADER "${webAuth.proxyHeader}" is not a header name`);
    return { mode: 'proxy', header: webAuth.proxyHeader.toLowerCase() };
  }
  if (users.length) return { mode: 'basic', users };
  if (opts.noAuth && isLoopbackHost(opts.host)) return { mode: 'none' };
  if (opts.noAuth) {
    throw new WebAuthError(`--no-auth is allowed only when bound to loopback, and web.host is ${opts.host}: set MAILROOM_WEB_USER and MAILROOM_WEB_PASSWORD`);
  }
  throw new WebAuthError(
    'no web credentials: set MAILROOM_WEB_USER and MAILROOM_WEB_PASSWORD (or MAILROOM_WEB_PROXY_HEADER behind an authenticating proxy), ' +
      'or run on loopback with --no-auth',
  );
}

/** Compare secrets in time independent of where they differ (digests make the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export interface RequestFacts {
  headers: Record<string, string | string[] | undefined>;
  remoteAddress: string | undefined;
}

export function authenticate(auth: WebAuth, req: RequestFacts): AuthResult {
  switch (auth.mode) {
    case 'none':
      return { ok: true, user: 'anonymous', role: 'admin' };
    case 'proxy': {
      if (!isLoopbackAddress(req.remoteAddress)) return { ok: false, why: 'proxy-header mode accepts only connections from loopback' };
      const v = req.headers[auth.header];
      const user = (Array.isArray(v) ? v[0] : v)?.trim();
      return user ? { ok: true, user, role: 'admin' } : { ok: false, why: `missing ${auth.header} header` };
    }
    case 'basic': {
      const h = req.headers.authorization;
      const given = parseBasic(Array.isArray(h) ? h[0] : h);
      if (!given) return { ok: false, why: 'credentials required' };
      // Check every pair, without stopping at the first match, so timing says nothing about which matched.
      let match: { user: string; role: Role } | undefined;
      for (const u of auth.users) {
        const userOk = safeEqual(given.user, u.user);
        const passwordOk = safeEqual(given.password, u.password);
        if (userOk && passwordOk && !match) match = { user: u.user, role: u.role };
      }
      return match ? { ok: true, ...match } : { ok: false, why: 'wrong user or password' };
    }
  }
}
