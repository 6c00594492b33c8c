// The simulator's request/reply shapes and the JSON bodies Jira uses for users and errors.
import type { IncomingHttpHeaders } from 'node:http';
import type { SimCounters } from './counters.js';
import type { SimAccount, SimState } from './state.js';

export interface SimContext {
  state: SimState;
  counters: SimCounters;
  /** The simulator's own base URL, for `self` links. */
  url: () => string;
  /** Emails whose last search was answered anonymously (bad token), lower-cased. */
  anonymousSearches: Set<string>;
}

export interface SimRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  /** Parsed JSON body, undefined when none or not JSON. */
  json: unknown;
  /** Values of the route's {placeholders}, in order. */
  params: string[];
  /** The authenticated account; undefined for anonymous and refused requests. */
  account?: SimAccount;
  /** Credentials were sent and refused. */
  authFailed: boolean;
  ctx: SimContext;
}

export interface Reply {
  status: number;
  body?: unknown;
  /** A plain-text body instead of JSON. */
  text?: string;
  /** A file's bytes (attachment content), sent with its own content-type header. */
  bytes?: Buffer;
  /** A body without end (a misbehaving download host), written in chunks until the client goes away. */
  endless?: boolean;
  headers?: Record<string, string>;
}

export interface Route {
  method: string;
  template: string;
  operation: string;
  /** Jira answers this anonymously (200, empty) when the credentials are refused. */
  anonymousAllowed?: boolean;
  /** JSM experimental: 412 without `X-ExperimentalApi: opt-in`. */
  experimental?: boolean;
  /** Status for missing or refused credentials when the spec documents no 401 (attachments: 403). */
  unauthenticatedStatus?: number;
  /** A JSM endpoint: errors use `{ errorMessage }`. */
  jsm?: boolean;
  handle(req: SimRequest): Reply | Promise<Reply>;
}

export function matcherFor(template: string): RegExp {
  const src = template
    .split(/(\{[^}]+\})/)
    .map((p) => (/^\{[^}]+\}$/.test(p) ? '([^/]+)' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${src}$`);
}

export function platformError(status: number, messages: string[], errors: Record<string, string> = {}): Reply {
  return { status, body: { errorMessages: messages, errors } };
}

export function jsmError(status: number, message: string): Reply {
  return { status, body: { errorMessage: message } };
}

export function has(account: SimAccount | undefined, permission: string, projectKey?: string): boolean {
  if (!account || !account.active) return false;
  if (account.siteAdmin || account.permissions.has(permission)) return true;
  // A project permission asked without a project holds if it is held in any project (as Jira's /mypermissions says).
  if (projectKey !== undefined) {
    if (account.projectPermissions.get(projectKey)?.has(permission)) return true;
  } else if ([...account.projectPermissions.values()].some((p) => p.has(permission))) return true;
  // Jira administrators may browse users; SYSTEM_ADMIN stays separate.
  return permission === 'USER_PICKER' && account.permissions.has('ADMINISTER');
}

/** The email a response may show: hidden ones are left out, as Jira does for privacy settings. */
function shownEmail(a: SimAccount, self: boolean): string | undefined {
  return a.email && (!a.emailHidden || self) ? a.email : undefined;
}

/** Platform `User` bean. */
export function userJson(ctx: SimContext, a: SimAccount, self = false): Record<string, unknown> {
  const email = shownEmail(a, self);
  return {
    self: `${ctx.url()}/rest/api/3/user?accountId=${encodeURIComponent(a.accountId)}`,
    accountId: a.accountId,
    accountType: a.accountType,
    ...(email ? { emailAddress: email } : {}),
    displayName: a.displayName,
    active: a.active,
    timeZone: 'Etc/UTC',
    locale: 'en_US',
  };
}

/** Platform `UserDetails` bean (group members, comment authors): the `User` bean without its locale. */
export function userDetailsJson(ctx: SimContext, a: SimAccount): Record<string, unknown> {
  const { locale: _locale, ...details } = userJson(ctx, a);
  return details;
}

/** JSM `UserDTO`. */
export function userDtoJson(a: SimAccount): Record<string, unknown> {
  const email = shownEmail(a, false);
  return { accountId: a.accountId, ...(email ? { emailAddress: email } : {}), displayName: a.displayName, active: a.active, timeZone: 'Etc/UTC' };
}

export function intParam(q: URLSearchParams, name: string, fallback: number): number {
  const v = q.get(name);
  if (v === null || !/^\d+$/.test(v)) return fallback;
  return Number(v);
}
