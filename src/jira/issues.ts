// Jira issues: creating and reading them, their watchers, comments, attachments and properties,
// JQL search, and the projects they live in.
import { RetryableError } from '../core/errors.js';
import { jiraErrorText } from './classify.js';
import type { JiraClient } from './client.js';
import { enc, MAX_PAGES, type JiraCore } from './core.js';
import type { CreatedIssue, FoundIssue } from './types.js';

export type IssueMethods = Pick<JiraClient, 'createIssue' | 'getIssue' | 'getWatchers' | 'addComment' | 'addAttachment' | 'getComment'>;
export type IssuePropertyMethods = Pick<JiraClient, 'setIssueProperty' | 'getIssueProperty'>;
export type SearchMethods = Pick<JiraClient, 'searchJql'>;
export type ProjectMethods = Pick<JiraClient, 'getProject'>;

/** Issues per search page: Jira returns at most 100 issues with fields per page. */
const SEARCH_PAGE = 100;

export function issueMethods({ call, expectOk }: JiraCore): IssueMethods {
  return {

    async createIssue(fields, o) {
      const op = 'createIssue';
      const json: Record<string, unknown> = { fields };
      if (o?.properties?.length) json.properties = o.properties;
      const body = expectOk(op, await call(op, { method: 'POST', path: '/rest/api/3/issue', json })) as Partial<CreatedIssue>;
      if (!body?.id || !body.key) throw new RetryableError(`Jira ${op} returned no issue key`);
      return { id: String(body.id), key: String(body.key) };
    },

    async getIssue(issueIdOrKey, fields, o) {
      const op = 'getIssue';
      const body = expectOk(op, await call(op, {
        method: 'GET',
        path: `/rest/api/3/issue/${enc(issueIdOrKey)}`,
        // `properties`: issue properties read in the same call (getIssue, IssueBean.properties).
        query: { fields: fields?.join(','), ...(o?.properties?.length ? { properties: o.properties.join(',') } : {}) },
      })) as { id?: string; key?: string; fields?: Record<string, unknown>; properties?: unknown };
      const props = body?.properties;
      return {
        id: String(body?.id ?? ''),
        key: String(body?.key ?? ''),
        fields: body?.fields ?? {},
        ...(o?.properties?.length ? { properties: props && typeof props === 'object' && !Array.isArray(props) ? (props as Record<string, unknown>) : {} } : {}),
      };
    },

    async getWatchers(issueIdOrKey) {
      const op = 'getIssueWatchers';
      const body = expectOk(op, await call(op, { method: 'GET', path: `/rest/api/3/issue/${enc(issueIdOrKey)}/watchers` })) as { watchers?: { accountId?: string }[] };
      return (body?.watchers ?? []).map((w) => w.accountId).filter((id): id is string => !!id);
    },

    async addComment(issueIdOrKey, adf, opts) {
      const op = 'addComment';
      const json = { body: adf, ...(opts?.visibility ? { visibility: opts.visibility } : {}) };
      const body = expectOk(op, await call(op, { method: 'POST', path: `/rest/api/3/issue/${enc(issueIdOrKey)}/comment`, json })) as { id?: string };
      return { id: String(body?.id ?? '') };
    },

    async getComment(issueIdOrKey, commentId) {
      const op = 'getComment';
      const body = expectOk(op, await call(op, { method: 'GET', path: `/rest/api/3/issue/${enc(issueIdOrKey)}/comment/${enc(commentId)}` })) as {
        id?: unknown; author?: { accountId?: unknown }; body?: unknown; jsdPublic?: unknown; visibility?: unknown;
      };
      return {
        id: String(body?.id ?? commentId),
        ...(typeof body?.author?.accountId === 'string' ? { authorId: body.author.accountId } : {}),
        body: body?.body,
        ...(typeof body?.jsdPublic === 'boolean' ? { jsdPublic: body.jsdPublic } : {}),
        restricted: body?.visibility !== undefined && body?.visibility !== null,
      };
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
  };
}

export function issuePropertyMethods({ call, expectOk, authFirst }: JiraCore): IssuePropertyMethods {
  return {
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
  };
}

export function searchMethods({ call, expectOk }: JiraCore): SearchMethods {
  return {
    async searchJql(jql, fields, o) {
      const op = 'searchAndReconsileIssuesUsingJqlPost';
      const max = o?.max ?? 100;
      const out: FoundIssue[] = [];
      let nextPageToken: string | undefined;
      for (let page = 0; page < MAX_PAGES && out.length < max; page++) {
        const json: Record<string, unknown> = { jql, fields, maxResults: Math.min(SEARCH_PAGE, max - out.length) };
        if (o?.properties?.length) json.properties = o.properties;
        if (nextPageToken) json.nextPageToken = nextPageToken;
        const body = expectOk(op, await call(op, { method: 'POST', path: '/rest/api/3/search/jql', json })) as {
          issues?: { id?: string; key?: string; fields?: Record<string, unknown>; properties?: Record<string, unknown> }[];
          nextPageToken?: string;
          isLast?: boolean;
        };
        for (const i of body?.issues ?? []) out.push({ id: String(i.id ?? ''), key: String(i.key ?? ''), fields: i.fields ?? {}, ...(i.properties ? { properties: i.properties } : {}) });
        nextPageToken = body?.nextPageToken ?? undefined;
        if (!nextPageToken || body?.isLast === true) break;
      }
      return out.slice(0, max);
    },
  };
}

export function projectMethods({ call, expectOk }: JiraCore): ProjectMethods {
  return {
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
  };
}
