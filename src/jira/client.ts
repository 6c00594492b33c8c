// The one way Mailroom talks to Jira Cloud (platform REST v3 and the JSM REST API), with the
// workaround user's Basic credentials. No retries here: BullMQ owns retries, so every failure
// comes back as a typed error (src/core/errors.ts) for the queue layer to decide on.
import ky, { TimeoutError } from 'ky';
import { NotFoundError, PermanentError, RetryableError } from '../core/errors.js';
import { registerBasicAuth, scrubSecrets, type Logger } from '../core/log.js';
import { classifyAnswer, jiraErrorText, retryAfterOf } from './classify.js';
import { AlreadyExistsError, JiraNoAnswerError } from './errors.js';
import { pickByEmail, preferredAccount, toAccount } from './match.js';
import type {
  AdfDoc,
  CreatedAttachment,
  CreatedIssue,
  CreatedRequest,
  CreateRequestInput,
  FoundIssue,
  GroupRef,
  JiraAccount,
  FoundProject,
  FoundServiceDesk,
  Myself,
  UserSearchResult,
} from './types.js';

export interface JiraClientOptions {
  /** Site URL (https://acme.atlassian.net) or the scoped-token form https://api.atlassian.com/ex/jira/{cloudId}. */
  baseUrl: string;
  email: string;
  token: string;
  /** Per request; a hung Jira must become a retryable error, not a stuck worker. */
  timeoutMs: number;
  logger?: Logger;
  /** Called after every call; `status` is 0 when no HTTP answer arrived (network error, timeout), with `error` saying why. */
  onResponse?: (info: { operation: string; status: number; ms: number; error?: string }) => void;
  /**
   * Called the moment an answer's headers say "wait" (429, or 503 with Retry-After), before its
   * body is read: the Retry-After gate closes for every process without waiting for the error.
   */
  onRetryAfter?: (ms: number) => void;
}

export interface JiraClient {
  findUsersByEmail(email: string): Promise<UserSearchResult>;
  findUserByEmail(email: string): Promise<JiraAccount | null>;
  myself(): Promise<Myself>;
  /** Project permissions are answered for `context`'s project when given, else "in any project". */
  myPermissions(keys: string[], context?: { projectKey?: string; projectId?: string }): Promise<Record<string, boolean>>;
  /** Names of the groups the token's account belongs to, nested ones included (/myself?expand=groups). */
  myGroups(): Promise<string[]>;
  /** The project behind a JSM service desk. */
  serviceDeskProject(serviceDeskId: string): Promise<{ projectId: string; projectKey: string }>;
  createUser(input: { emailAddress: string; displayName?: string; products: string[] }): Promise<JiraAccount>;
  addUserToGroup(input: { accountId: string } & GroupRef): Promise<'added' | 'already-member'>;
  groupMembers(group: GroupRef): Promise<JiraAccount[]>;
  createCustomer(input: { email: string; displayName: string }): Promise<JiraAccount | 'exists'>;
  addCustomersToServiceDesk(serviceDeskId: string, accountIds: string[]): Promise<void>;
  createIssue(fields: Record<string, unknown>, opts?: { properties?: { key: string; value: unknown }[] }): Promise<CreatedIssue>;
  getIssue(issueIdOrKey: string, fields?: string[]): Promise<FoundIssue>;
  /** Account ids of the issue's watchers. */
  getWatchers(issueIdOrKey: string): Promise<string[]>;
  /** Account ids of a JSM request's participants (first page of 50: enough to decide trust). */
  getRequestParticipants(issueIdOrKey: string): Promise<string[]>;
  addComment(issueIdOrKey: string, body: AdfDoc): Promise<{ id: string }>;
  addAttachment(issueIdOrKey: string, filename: string, bytes: Uint8Array, contentType: string): Promise<CreatedAttachment[]>;
  setIssueProperty(issueIdOrKey: string, key: string, value: unknown): Promise<void>;
  /** The property's value, or undefined when the issue has no such property (a missing issue throws NotFoundError). */
  getIssueProperty(issueIdOrKey: string, key: string): Promise<unknown>;
  /** Issues matching the JQL, following pages up to `max` (default 100). */
  searchJql(jql: string, fields: string[], opts?: { max?: number }): Promise<FoundIssue[]>;
  createRequest(input: CreateRequestInput): Promise<CreatedRequest>;
  /** A project with its issue types (NotFoundError when it does not exist or is hidden from the token). */
  getProject(projectIdOrKey: string): Promise<FoundProject>;
  /** Whether the group exists (false on Jira's "Specified group does not exist."). */
  groupExists(group: GroupRef): Promise<boolean>;
  /** A JSM service desk (NotFoundError when it does not exist). */
  getServiceDesk(serviceDeskId: string): Promise<FoundServiceDesk>;
  /** A request type of a service desk (NotFoundError when either does not exist). */
  getRequestType(serviceDeskId: string, requestTypeId: string): Promise<{ id: string; name: string }>;
}

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

interface CallSpec {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  body?: FormData;
  headers?: Record<string, string>;
}

/** Group members per page: Jira caps /group/member at 50. */
const GROUP_PAGE = 50;
/** Issues per search page: Jira returns at most 100 issues with fields per page. */
const SEARCH_PAGE = 100;
/** A bound on paging loops, so a misbehaving server cannot keep a worker paging forever. */
const MAX_PAGES = 200;

/**
 * The most specific reason in an error's cause chain (ECONNREFUSED over "fetch failed"): ky 2
 * wraps fetch's TypeError in a NetworkError, so the system code sits two causes deep.
 */
function networkCause(e: unknown): string {
  let best = 'unknown';
  for (let at: unknown = e, depth = 0; at && typeof at === 'object' && depth < 5; depth++) {
    const { code, message, cause } = at as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && code) return code;
    if (typeof message === 'string' && message) best = message;
    at = cause;
  }
  return best;
}

export function createJiraClient(opts: JiraClientOptions): JiraClient {
  registerBasicAuth(opts.email, opts.token);
  const authorization = 'Basic ' + Buffer.from(`${opts.email}:${opts.token}`).toString('base64');
  const base = opts.baseUrl.replace(/\/+$/, '');
  const http = ky.create({ retry: 0, timeout: opts.timeoutMs, throwHttpErrors: false });

  async function call(operation: string, spec: CallSpec): Promise<Answer> {
    const url = new URL(base + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const started = performance.now();
    let response: Response;
    let text: string;
    try {
      response = await http(url, {
        method: spec.method,
        headers: { Authorization: authorization, Accept: 'application/json', ...spec.headers },
        // ky's timeout covers the wait for headers; this signal also bounds reading the body.
        signal: AbortSignal.timeout(opts.timeoutMs),
        // Never follow a redirect with the token: its target could answer without checking it
        // (a /myself that "works" for any token), or be another host altogether.
        redirect: 'manual',
        ...(spec.json !== undefined ? { json: spec.json } : {}),
        ...(spec.body !== undefined ? { body: spec.body } : {}),
      });
      if (opts.onRetryAfter) {
        const wait = retryAfterOf(response.status, response.headers, Date.now());
        if (wait !== undefined) opts.onRetryAfter(wait);
      }
      text = await response.text();
    } catch (e) {
      const ms = Math.round(performance.now() - started);
      // The cause is deliberately not attached: ky's errors carry the Request, headers included.
      if (e instanceof TimeoutError || (e as Error)?.name === 'TimeoutError') {
        opts.onResponse?.({ operation, status: 0, ms, error: `timed out after ${opts.timeoutMs} ms` });
        opts.logger?.warn({ operation, ms }, 'jira call timed out');
        throw new JiraNoAnswerError(`Jira ${operation} timed out after ${opts.timeoutMs} ms`);
      }
      const why = scrubSecrets(networkCause(e));
      opts.onResponse?.({ operation, status: 0, ms, error: why });
      opts.logger?.warn({ operation, ms, why }, 'jira call failed without a complete answer');
      throw new JiraNoAnswerError(`network error on Jira ${operation}: ${why}`);
    }
    const ms = Math.round(performance.now() - started);
    if (response.status >= 300 && response.status < 400) {
      opts.onResponse?.({ operation, status: response.status, ms });
      const location = scrubSecrets(response.headers.get('location') ?? '(no Location)');
      throw new PermanentError(
        `Jira answered ${operation} with a redirect (${response.status} to ${location}); Mailroom does not follow redirects on calls that carry the token: ` +
          'set jira.site (or JIRA_BASE_URL) to the address Jira answers on',
      );
    }
    let body: unknown = text;
    if (text && /json/i.test(response.headers.get('content-type') ?? '')) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    opts.onResponse?.({ operation, status: response.status, ms });
    opts.logger?.debug({ operation, status: response.status, ms }, 'jira call');
    return { status: response.status, headers: response.headers, body };
  }

  /** Throw the typed error for a failed answer; return the body of a successful one. */
  function expectOk(operation: string, a: Answer): unknown {
    const err = classifyAnswer({ operation, status: a.status, headers: a.headers, body: a.body, now: Date.now() });
    if (err) throw err;
    return a.body;
  }

  /** Throw auth problems before a caller reads a status as a domain outcome ("exists", "already a member"). */
  function authFirst(operation: string, a: Answer): void {
    const err = classifyAnswer({ operation, status: a.status, headers: a.headers, body: a.body, now: Date.now() });
    if (err && err.kind === 'auth') throw err;
  }

  /**
   * Jira's 404 for a group says only "Specified group does not exist.": name the group, so a
   * person reading a failed job knows which one (and where it is configured).
   */
  function noSuchGroup(operation: string, g: GroupRef, a: Answer): void {
    if (a.status !== 404) return;
    const which = g.groupName !== undefined ? `"${g.groupName}"` : `with groupId ${g.groupId}`;
    const text = scrubSecrets(jiraErrorText(a.body)) || 'Specified group does not exist.';
    throw new NotFoundError(
      `Jira group ${which} does not exist (${operation}: ${text}); fix it where the configuration names it (mailboxes[].policy.groups or notifications.rules[].groups)`,
    );
  }

  function groupQuery(g: GroupRef): Record<string, string | undefined> {
    if (g.groupId) return { groupId: g.groupId };
    if (g.groupName) return { groupname: g.groupName };
    throw new PermanentError('a group needs a groupId or a groupName');
  }

  const enc = encodeURIComponent;

  const client: JiraClient = {
    async findUsersByEmail(email) {
      const op = 'findUsers';
      if (!email.trim()) throw new PermanentError('cannot look up an empty email address');
      const body = expectOk(op, await call(op, { method: 'GET', path: '/rest/api/3/user/search', query: { query: email.trim(), maxResults: 50 } }));
      if (!Array.isArray(body)) throw new RetryableError(`Jira ${op} returned something other than a list`);
      return pickByEmail(body.map((u) => toAccount(u)), email);
    },

    async findUserByEmail(email) {
      return preferredAccount((await client.findUsersByEmail(email)).accounts);
    },

    async myself() {
      const op = 'getCurrentUser';
      const a = toAccount(expectOk(op, await call(op, { method: 'GET', path: '/rest/api/3/myself' })));
      if (!a.accountId) throw new RetryableError(`Jira ${op} returned no accountId`);
      const me: Myself = { accountId: a.accountId, displayName: a.displayName, active: a.active };
      if (a.emailAddress) me.emailAddress = a.emailAddress;
      return me;
    },

    async myPermissions(keys, context) {
      const op = 'getMyPermissions';
      const query = { permissions: keys.join(','), projectId: context?.projectId, projectKey: context?.projectId ? undefined : context?.projectKey };
      const body = expectOk(op, await call(op, { method: 'GET', path: '/rest/api/3/mypermissions', query }));
      const perms = ((body as { permissions?: Record<string, { havePermission?: boolean }> })?.permissions ?? {});
      return Object.fromEntries(keys.map((k) => [k, perms[k]?.havePermission === true]));
    },

    async myGroups() {
      const op = 'getCurrentUser';
      const body = expectOk(op, await call(op, { method: 'GET', path: '/rest/api/3/myself', query: { expand: 'groups' } })) as { groups?: { items?: { name?: unknown }[] } };
      const items = body?.groups?.items;
      if (!Array.isArray(items)) throw new RetryableError(`Jira ${op} answered without the groups it was asked to expand`);
      return items.map((g) => String(g?.name ?? '')).filter(Boolean);
    },

    async serviceDeskProject(serviceDeskId) {
      const op = 'getServiceDeskById';
      const body = expectOk(op, await call(op, { method: 'GET', path: `/rest/servicedeskapi/servicedesk/${enc(serviceDeskId)}` })) as { projectId?: unknown; projectKey?: unknown };
      if (!body?.projectId && !body?.projectKey) throw new RetryableError(`Jira ${op} returned no project for service desk ${serviceDeskId}`);
      return { projectId: String(body.projectId ?? ''), projectKey: String(body.projectKey ?? '') };
    },

    async createUser(input) {
      const op = 'createUser';
      const json: Record<string, unknown> = { emailAddress: input.emailAddress, products: input.products };
      if (input.displayName) json.displayName = input.displayName;
      const a = await call(op, { method: 'POST', path: '/rest/api/3/user', json });
      authFirst(op, a);
      if (a.status === 400 && /already exists|already in use/i.test(jiraErrorText(a.body))) {
        throw new AlreadyExistsError(`Jira ${op}: a user with this email already exists (${scrubSecrets(jiraErrorText(a.body))})`);
      }
      return toAccount(expectOk(op, a), 'atlassian');
    },

    async addUserToGroup(input) {
      const op = 'addUserToGroup';
      const a = await call(op, { method: 'POST', path: '/rest/api/3/group/user', query: groupQuery(input), json: { accountId: input.accountId } });
      authFirst(op, a);
      if (a.status === 400 && /already a member/i.test(jiraErrorText(a.body))) return 'already-member';
      noSuchGroup(op, input, a);
      expectOk(op, a);
      return 'added';
    },

    async groupMembers(group) {
      const op = 'getUsersFromGroup';
      const out: JiraAccount[] = [];
      let startAt = 0;
      for (let page = 0; page < MAX_PAGES; page++) {
        const a = await call(op, {
          method: 'GET',
          path: '/rest/api/3/group/member',
          query: { ...groupQuery(group), includeInactiveUsers: false, startAt, maxResults: GROUP_PAGE },
        });
        authFirst(op, a);
        noSuchGroup(op, group, a);
        const body = expectOk(op, a) as { values?: unknown[]; isLast?: boolean };
        const values = Array.isArray(body?.values) ? body.values : [];
        out.push(...values.map((u) => toAccount(u)).filter((u) => u.active));
        if (body?.isLast !== false || values.length === 0) return out;
        startAt += values.length;
      }
      // Retrying will not make the group smaller: a group this big is a configuration mistake.
      throw new PermanentError(`Jira ${op}: the group has more than ${MAX_PAGES * GROUP_PAGE} active members; refusing to expand it`);
    },

    async createCustomer(input) {
      const op = 'createCustomer';
      const a = await call(op, {
        method: 'POST',
        path: '/rest/servicedeskapi/customer',
        query: { strictConflictStatusCode: true },
        json: { email: input.email, displayName: input.displayName },
        headers: { 'X-ExperimentalApi': 'opt-in' },
      });
      authFirst(op, a);
      if (a.status === 409) return 'exists';
      if (a.status === 400 && /already exists/i.test(jiraErrorText(a.body))) return 'exists';
      return toAccount(expectOk(op, a), 'customer');
    },

    async addCustomersToServiceDesk(serviceDeskId, accountIds) {
      const op = 'addCustomers';
      expectOk(op, await call(op, {
        method: 'POST',
        path: `/rest/servicedeskapi/servicedesk/${enc(serviceDeskId)}/customer`,
        json: { accountIds },
        headers: { 'X-ExperimentalApi': 'opt-in' },
      }));
    },

    async createIssue(fields, o) {
      const op = 'createIssue';
      const json: Record<string, unknown> = { fields };
      if (o?.properties?.length) json.properties = o.properties;
      const body = expectOk(op, await call(op, { method: 'POST', path: '/rest/api/3/issue', json })) as Partial<CreatedIssue>;
      if (!body?.id || !body.key) throw new RetryableError(`Jira ${op} returned no issue key`);
      return { id: String(body.id), key: String(body.key) };
    },

    async getIssue(issueIdOrKey, fields) {
      const op = 'getIssue';
      const body = expectOk(op, await call(op, {
        method: 'GET',
        path: `/rest/api/3/issue/${enc(issueIdOrKey)}`,
        query: { fields: fields?.join(',') },
      })) as { id?: string; key?: string; fields?: Record<string, unknown> };
      return { id: String(body?.id ?? ''), key: String(body?.key ?? ''), fields: body?.fields ?? {} };
    },

    async getWatchers(issueIdOrKey) {
      const op = 'getIssueWatchers';
      const body = expectOk(op, await call(op, { method: 'GET', path: `/rest/api/3/issue/${enc(issueIdOrKey)}/watchers` })) as { watchers?: { accountId?: string }[] };
      return (body?.watchers ?? []).map((w) => w.accountId).filter((id): id is string => !!id);
    },

    async getRequestParticipants(issueIdOrKey) {
      const op = 'getRequestParticipants';
      const body = expectOk(op, await call(op, { method: 'GET', path: `/rest/servicedeskapi/request/${enc(issueIdOrKey)}/participant` })) as { values?: { accountId?: string }[] };
      return (body?.values ?? []).map((w) => w.accountId).filter((id): id is string => !!id);
    },

    async addComment(issueIdOrKey, adf) {
      const op = 'addComment';
      const body = expectOk(op, await call(op, { method: 'POST', path: `/rest/api/3/issue/${enc(issueIdOrKey)}/comment`, json: { body: adf } })) as { id?: string };
      return { id: String(body?.id ?? '') };
    },

    async addAttachment(issueIdOrKey, filename, bytes, contentType) {
      const op = 'addAttachment';
      const form = new FormData();
      form.append('file', new Blob([bytes], { type: contentType }), filename);
      const body = expectOk(op, await call(op, {
        method: 'POST',
        path: `/rest/api/3/issue/${enc(issueIdOrKey)}/attachments`,
        body: form,
        headers: { 'X-Atlassian-Token': 'no-check' },
      }));
      if (!Array.isArray(body)) throw new RetryableError(`Jira ${op} returned something other than a list`);
      return body.map((x: { id?: unknown; filename?: unknown; size?: unknown }) => ({
        id: String(x.id ?? ''),
        filename: String(x.filename ?? filename),
        size: Number(x.size ?? bytes.byteLength),
      }));
    },

    async setIssueProperty(issueIdOrKey, key, value) {
      const op = 'setIssueProperty';
      expectOk(op, await call(op, { method: 'PUT', path: `/rest/api/3/issue/${enc(issueIdOrKey)}/properties/${enc(key)}`, json: value }));
    },

    async getIssueProperty(issueIdOrKey, key) {
      const op = 'getIssueProperty';
      const a = await call(op, { method: 'GET', path: `/rest/api/3/issue/${enc(issueIdOrKey)}/properties/${enc(key)}` });
      authFirst(op, a);
      // Jira answers 404 both for a missing issue and a missing property; its message tells which.
      if (a.status === 404 && /property/i.test(jiraErrorText(a.body))) return undefined;
      const body = expectOk(op, a) as { value?: unknown };
      return body?.value;
    },

    async searchJql(jql, fields, o) {
      const op = 'searchAndReconsileIssuesUsingJqlPost';
      const max = o?.max ?? 100;
      const out: FoundIssue[] = [];
      let nextPageToken: string | undefined;
      for (let page = 0; page < MAX_PAGES && out.length < max; page++) {
        const json: Record<string, unknown> = { jql, fields, maxResults: Math.min(SEARCH_PAGE, max - out.length) };
        if (nextPageToken) json.nextPageToken = nextPageToken;
        const body = expectOk(op, await call(op, { method: 'POST', path: '/rest/api/3/search/jql', json })) as {
          issues?: { id?: string; key?: string; fields?: Record<string, unknown> }[];
          nextPageToken?: string;
          isLast?: boolean;
        };
        for (const i of body?.issues ?? []) out.push({ id: String(i.id ?? ''), key: String(i.key ?? ''), fields: i.fields ?? {} });
        nextPageToken = body?.nextPageToken ?? undefined;
        if (!nextPageToken || body?.isLast === true) break;
      }
      return out.slice(0, max);
    },

    async createRequest(input) {
      const op = 'createCustomerRequest';
      const json: Record<string, unknown> = {
        serviceDeskId: input.serviceDeskId,
        requestTypeId: input.requestTypeId,
        requestFieldValues: { summary: input.summary, description: input.description },
        raiseOnBehalfOf: input.raiseOnBehalfOf,
      };
      if (input.requestParticipants?.length) json.requestParticipants = input.requestParticipants;
      const body = expectOk(op, await call(op, { method: 'POST', path: '/rest/servicedeskapi/request', json })) as { issueId?: string; issueKey?: string };
      if (!body?.issueKey) throw new RetryableError(`Jira ${op} returned no issue key`);
      return { issueId: String(body.issueId ?? ''), issueKey: String(body.issueKey) };
    },

    async getProject(projectIdOrKey) {
      const op = 'getProject';
      const body = expectOk(op, await call(op, { method: 'GET', path: `/rest/api/3/project/${enc(projectIdOrKey)}` })) as {
        id?: unknown;
        key?: unknown;
        name?: unknown;
        issueTypes?: { id?: unknown; name?: unknown }[];
      };
      return {
        id: String(body?.id ?? ''),
        key: String(body?.key ?? ''),
        name: String(body?.name ?? ''),
        issueTypes: (Array.isArray(body?.issueTypes) ? body.issueTypes : []).map((t) => ({ id: String(t?.id ?? ''), name: String(t?.name ?? '') })),
      };
    },

    async groupExists(group) {
      const op = 'getUsersFromGroup';
      const a = await call(op, { method: 'GET', path: '/rest/api/3/group/member', query: { ...groupQuery(group), maxResults: 1 } });
      authFirst(op, a);
      if (a.status === 404) return false;
      expectOk(op, a);
      return true;
    },

    async getServiceDesk(serviceDeskId) {
      const op = 'getServiceDeskById';
      const body = expectOk(op, await call(op, { method: 'GET', path: `/rest/servicedeskapi/servicedesk/${enc(serviceDeskId)}` })) as Record<string, unknown>;
      return { id: String(body?.id ?? ''), projectKey: String(body?.projectKey ?? ''), projectName: String(body?.projectName ?? '') };
    },

    async getRequestType(serviceDeskId, requestTypeId) {
      const op = 'getRequestTypeById';
      const body = expectOk(op, await call(op, {
        method: 'GET',
        path: `/rest/servicedeskapi/servicedesk/${enc(serviceDeskId)}/requesttype/${enc(requestTypeId)}`,
      })) as Record<string, unknown>;
      return { id: String(body?.id ?? ''), name: String(body?.name ?? '') };
    },
  };
  return client;
}

