// Issues on the platform API: create, read, comments, attachments (XSRF header required),
// issue properties and JQL search with token paging.
import { has, platformError, userDetailsJson, type Reply, type Route, type SimContext, type SimRequest } from './http.js';
import { JqlError, parseJql } from './jql.js';
import { adfChars, TEXT_FIELD_MAX, TOO_LONG } from './text-limit.js';
import { parseMultipart } from './multipart.js';
import { STATUSES, type SimAttachment, type SimComment, type SimIssue } from './state.js';
import { commentJson, fireCommentCreated, fireIssueCreated } from './webhook-events.js';

/** Jira returns at most 100 issues with fields per search page. */
export const SEARCH_PAGE_CAP = 100;
/** Jira refuses issue property values longer than this (characters of JSON). */
export const PROPERTY_MAX_CHARS = 32_768;

const NO_ISSUE = 'Issue does not exist or you do not have permission to see it.';

function isAdf(v: unknown): boolean {
  return !!v && typeof v === 'object' && (v as { type?: unknown }).type === 'doc' && Array.isArray((v as { content?: unknown }).content);
}

/** The platform `Attachment` bean (issue field `attachment`; spec components/schemas/Attachment). */
function attachmentJson(ctx: SimContext, a: SimAttachment): Record<string, unknown> {
  const author = a.authorId ? ctx.state.accounts.get(a.authorId) : undefined;
  return {
    self: `${ctx.url()}/rest/api/3/attachment/${a.id}`,
    id: a.id,
    filename: a.filename,
    ...(author ? { author: userDetailsJson(ctx, author) } : {}),
    created: a.created,
    size: a.size,
    mimeType: a.mimeType,
    content: `${ctx.url()}/rest/api/3/attachment/content/${a.id}`,
  };
}

export function issueJson(ctx: SimContext, issue: SimIssue, wanted: string[] | undefined): Record<string, unknown> {
  const all = wanted === undefined || wanted.includes('*all') || wanted.includes('*navigable');
  const fields = Object.fromEntries(Object.entries(issue.fields).filter(([k]) => all || wanted!.includes(k)));
  // The system field `attachment`: Jira lists the issue's files there, those added in comments too.
  if (all || wanted!.includes('attachment')) fields.attachment = issue.attachments.map((a) => attachmentJson(ctx, a));
  return { id: issue.id, key: issue.key, self: `${ctx.url()}/rest/api/3/issue/${issue.id}`, fields };
}

function requireIssue(req: SimRequest): SimIssue | Reply {
  const issue = req.ctx.state.issue(decodeURIComponent(req.params[0] ?? ''));
  // An issue the account may not see is answered exactly as a missing one (Jira Cloud's wording;
  // docs/jira-simulator.md): without Browse projects in its project, it "does not exist".
  if (!issue || !has(req.account, 'BROWSE_PROJECTS', issue.projectKey)) return platformError(404, [NO_ISSUE]);
  return issue;
}

/**
 * A comment restricted to a project role: Jira refuses it with 400 and `errors.commentLevel` when
 * the project has no such role or the author is not in it (docs/jira-simulator-workflow.md).
 */
function refusedRole(req: SimRequest, issue: SimIssue, role: string): Reply | undefined {
  if (!req.ctx.state.roleNames.has(role)) return platformError(400, [], { commentLevel: `Role with id: ${role} does not exist.` });
  const members = req.ctx.state.project(issue.projectKey)?.roles.get(role);
  return members?.has(req.account!.accountId) ? undefined : platformError(400, [], { commentLevel: `You are currently not a member of the project role: ${role}.` });
}

/**
 * A project permission the caller lacks in the issue's project, answered as Jira words it
 * (403; see docs/jira-permissions.md for the sources). Undefined when held.
 */
function refusedIn(req: SimRequest, issue: SimIssue, permission: string, message: string): Reply | undefined {
  return has(req.account, permission, issue.projectKey) ? undefined : platformError(403, [message]);
}

function isReply(x: unknown): x is Reply {
  return !!x && typeof x === 'object' && 'status' in x && !('fields' in x);
}

export const issueRoutes: Route[] = [
  {
    method: 'POST',
    template: '/rest/api/3/issue',
    operation: 'createIssue',
    handle(req) {
      const { ctx } = req;
      const b = (req.json ?? {}) as { fields?: Record<string, unknown>; properties?: { key: string; value: unknown }[] };
      const f = b.fields ?? {};
      const errors: Record<string, string> = {};
      const pref = f.project as { key?: string; id?: string } | undefined;
      const project = pref ? ctx.state.project(pref.key ?? pref.id ?? '') : undefined;
      if (!project) errors.project = 'Specify a valid project ID or key';
      const tref = f.issuetype as { name?: string; id?: string } | undefined;
      const type = project?.issueTypes.find((t) => t.id === tref?.id || t.name.toLowerCase() === tref?.name?.toLowerCase());
      if (project && !type) errors.issuetype = 'Specify a valid issue type';
      if (typeof f.summary !== 'string' || !f.summary.trim()) errors.summary = 'You must specify a summary of the issue.';
      else if (f.summary.length > 255) errors.summary = 'Summary must be less than 255 characters.';
      if (f.description !== undefined && f.description !== null && !isAdf(f.description)) {
        errors.description = 'Operation value must be an Atlassian Document (see the Atlassian Document Format)';
      } else if (f.description && adfChars(f.description) > TEXT_FIELD_MAX) errors.description = TOO_LONG;
      const rref = f.reporter as { id?: string; accountId?: string } | undefined;
      const reporter = rref ? ctx.state.accounts.get(rref.id ?? rref.accountId ?? '') : req.account;
      if (rref && !reporter) errors.reporter = 'Specify a valid value for reporter';
      // Setting someone else as reporter needs "Modify reporter" in the project (Jira answers as
      // for a field that is not on the screen).
      if (rref && reporter && project && reporter.accountId !== req.account?.accountId && !has(req.account, 'MODIFY_REPORTER', project.key)) {
        errors.reporter = "Field 'reporter' cannot be set. It is not on the appropriate screen, or unknown.";
      }
      // Jira: labels are strings without spaces, at most 255 characters each (the labels field's rules).
      if (f.labels !== undefined) {
        const bad = Array.isArray(f.labels) ? f.labels.find((l) => typeof l !== 'string' || /\s/.test(l) || !l || l.length > 255) : f.labels;
        if (bad !== undefined) errors.labels = typeof bad === 'string' && /\s/.test(bad) ? `The label '${bad}' contains spaces which is invalid.` : 'Labels must be a list of non-empty strings of at most 255 characters.';
      }
      for (const field of project?.offCreateScreen ?? []) {
        if (f[field] !== undefined) errors[field] = `Field '${field}' cannot be set. It is not on the appropriate screen, or unknown.`;
      }
      if (Object.keys(errors).length) return platformError(400, [], errors);
      if (!has(req.account, 'CREATE_ISSUES', project!.key)) return platformError(403, ['You do not have permission to create issues in this project.']);
      const issue = ctx.state.createIssue(
        project!,
        {
          ...f,
          summary: f.summary,
          project: { id: project!.id, key: project!.key, name: project!.name, self: `${ctx.url()}/rest/api/3/project/${project!.id}` },
          issuetype: { id: type!.id, name: type!.name, self: `${ctx.url()}/rest/api/3/issuetype/${type!.id}` },
          reporter: userDetailsJson(ctx, reporter!),
          // The API caller, whoever is named reporter: what `creator = currentUser()` finds.
          creator: userDetailsJson(ctx, req.account!),
          // A new issue starts in the workflow's first status, unresolved (routes-workflow.ts).
          status: { ...STATUSES.todo },
          resolution: null,
          resolutiondate: null,
          created: new Date().toISOString(),
        },
        b.properties,
      );
      fireIssueCreated(ctx, issue, req.account);
      return { status: 201, body: { id: issue.id, key: issue.key, self: `${ctx.url()}/rest/api/3/issue/${issue.id}` } };
    },
  },
  {
    method: 'GET',
    template: '/rest/api/3/project/{projectIdOrKey}',
    operation: 'getProject',
    handle(req) {
      const { ctx } = req;
      const project = ctx.state.project(decodeURIComponent(req.params[0] ?? ''));
      if (!project) return platformError(404, [`No project could be found with key '${decodeURIComponent(req.params[0] ?? '')}'.`]);
      return {
        status: 200,
        body: {
          self: `${ctx.url()}/rest/api/3/project/${project.id}`,
          id: project.id,
          key: project.key,
          name: project.name,
          issueTypes: project.issueTypes.map((t) => ({ self: `${ctx.url()}/rest/api/3/issuetype/${t.id}`, id: t.id, name: t.name, subtask: false })),
        },
      };
    },
  },
  {
    method: 'GET',
    template: '/rest/api/3/issue/{issueIdOrKey}',
    operation: 'getIssue',
    handle(req) {
      const issue = requireIssue(req);
      if (isReply(issue)) return issue;
      const wanted = req.query.get('fields')?.split(',').map((s) => s.trim());
      // getIssue's `properties` (platform v3 spec): the named issue properties, as IssueBean.properties.
      const props = req.query.get('properties')?.split(',').map((s) => s.trim()).filter(Boolean);
      const json = issueJson(req.ctx, issue, wanted);
      if (!props?.length) return { status: 200, body: json };
      const all = props.includes('*all');
      return { status: 200, body: { ...json, properties: Object.fromEntries([...issue.properties].filter(([k]) => all || props.includes(k))) } };
    },
  },
  {
    method: 'POST',
    template: '/rest/api/3/issue/{issueIdOrKey}/comment',
    operation: 'addComment',
    handle(req) {
      const issue = requireIssue(req);
      if (isReply(issue)) return issue;
      // No Add comments in the project, or the issue's status denies it (a workflow property):
      // Jira's words, with 400 by default (docs/jira-simulator-workflow.md cites the sources).
      if (!has(req.account, 'ADD_COMMENTS', issue.projectKey) || req.ctx.state.commentsLocked(issue)) {
        return platformError(req.ctx.state.commentRefusalStatus, [`${req.account!.displayName}, you do not have the permission to comment on this issue.`]);
      }
      const full = overLimit(req, issue.comments.length, 1, 'comments');
      if (full) return full;
      const b = (req.json ?? {}) as { body?: unknown; visibility?: { type?: unknown; value?: unknown; identifier?: unknown }; properties?: { key?: unknown; value?: unknown }[] };
      if (!isAdf(b.body)) return platformError(400, [], { comment: 'Comment body is not valid! (REST v3 takes an Atlassian Document)' });
      if (adfChars(b.body) > TEXT_FIELD_MAX) return platformError(400, [], { comment: TOO_LONG });
      const c: SimComment = { id: req.ctx.state.id(), authorId: req.account!.accountId, body: b.body, created: new Date().toISOString() };
      const v = b.visibility;
      const roleRefused = v?.type === 'role' && typeof v.value === 'string' ? refusedRole(req, issue, v.value) : undefined;
      if (roleRefused) return roleRefused;
      if (v && (v.type === 'role' || v.type === 'group') && (typeof v.value === 'string' || typeof v.identifier === 'string')) {
        c.visibility = { type: v.type, ...(typeof v.value === 'string' ? { value: v.value } : {}), ...(typeof v.identifier === 'string' ? { identifier: v.identifier } : {}) };
      }
      // JSM's internal note through the platform API: the `sd.public.comment` property.
      const sd = (b.properties ?? []).find((p) => p?.key === 'sd.public.comment')?.value as { internal?: unknown } | undefined;
      if (sd?.internal === true) c.internal = true;
      issue.comments.push(c);
      fireCommentCreated(req.ctx, issue, c);
      return { status: 201, body: commentJson(req.ctx, issue, c, true) };
    },
  },
  {
    method: 'GET',
    template: '/rest/api/3/issue/{issueIdOrKey}/comment/{id}',
    operation: 'getComment',
    handle(req) {
      const issue = requireIssue(req);
      if (isReply(issue)) return issue;
      const c = issue.comments.find((x) => x.id === decodeURIComponent(req.params[1] ?? ''));
      if (!c) return platformError(404, ['Can not find a comment for the id.']);
      return { status: 200, body: commentJson(req.ctx, issue, c, true) };
    },
  },
  {
    method: 'POST',
    template: '/rest/api/3/issue/{issueIdOrKey}/attachments',
    operation: 'addAttachment',
    unauthenticatedStatus: 403,
    handle(req) {
      if (String(req.headers['x-atlassian-token'] ?? '').toLowerCase() !== 'no-check') {
        return platformError(403, ['XSRF check failed']);
      }
      const issue = requireIssue(req);
      if (isReply(issue)) return issue;
      const refusedUpload = req.ctx.state.attachmentsRefused
        ? platformError(403, ['You do not have permission to create attachments for this issue.'])
        : refusedIn(req, issue, 'CREATE_ATTACHMENTS', 'You do not have permission to create attachments for this issue.');
      if (refusedUpload) return refusedUpload;
      const parts = parseMultipart(req.raw, req.headers['content-type'])?.filter((p) => p.name === 'file' && p.filename !== undefined);
      if (!parts?.length) return platformError(400, ['No file was attached: send multipart/form-data with a "file" part.']);
      const full = overLimit(req, issue.attachments.length, parts.length, 'attachments');
      if (full) return full;
      const created = parts.map((p) => {
        const a = {
          id: req.ctx.state.id(),
          filename: p.filename!,
          mimeType: p.contentType ?? 'application/octet-stream',
          size: p.data.length,
          bytes: Buffer.from(p.data),
          authorId: req.account!.accountId,
          created: new Date().toISOString(),
        };
        issue.attachments.push(a);
        return a;
      });
      return {
        status: 200,
        body: created.map((a) => ({
          self: `${req.ctx.url()}/rest/api/3/attachment/${a.id}`,
          id: a.id,
          filename: a.filename,
          author: userDetailsJson(req.ctx, req.account!),
          created: a.created,
          size: a.size,
          mimeType: a.mimeType,
          content: `${req.ctx.url()}/rest/api/3/attachment/content/${a.id}`,
        })),
      };
    },
  },
  {
    // getAttachmentContent (jira-platform-v3.json, GET /rest/api/3/attachment/content/{id}):
    // 303 to the download URL by default; with redirect=false the bytes (200). 404 when the
    // attachment is not found; 403 without Browse projects in its issue's project.
    method: 'GET',
    template: '/rest/api/3/attachment/content/{id}',
    operation: 'getAttachmentContent',
    handle(req) {
      const id = decodeURIComponent(req.params[0] ?? '');
      const issue = req.ctx.state.allIssues().find((i) => i.attachments.some((a) => a.id === id));
      const a = issue?.attachments.find((x) => x.id === id);
      if (!issue || !a) return platformError(404, [`The attachment with id '${id}' does not exist.`]);
      if (!has(req.account, 'BROWSE_PROJECTS', issue.projectKey)) return platformError(403, ['You do not have permission to view this attachment.']);
      if (req.query.get('redirect') !== 'false') {
        return { status: 303, headers: { location: `${req.ctx.url()}/secure/attachment/${a.id}/${encodeURIComponent(a.filename)}` } };
      }
      const headers = { 'content-type': a.mimeType };
      return a.endless ? { status: 200, endless: true, headers } : { status: 200, bytes: a.bytes, headers };
    },
  },
  {
    method: 'PUT',
    template: '/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}',
    operation: 'setIssueProperty',
    handle(req) {
      const issue = requireIssue(req);
      if (isReply(issue)) return issue;
      const refused = refusedIn(req, issue, 'EDIT_ISSUES', 'You do not have permission to edit issue properties of this issue.');
      if (refused) return refused;
      const key = decodeURIComponent(req.params[1] ?? '');
      if (key.length > 255) return platformError(400, ['The property key cannot be longer than 255 characters.']);
      if (req.json === undefined) return platformError(400, ['The property value must be valid JSON.']);
      if (req.raw.toString('utf8').length > PROPERTY_MAX_CHARS) {
        return platformError(400, [`The property value cannot be longer than ${PROPERTY_MAX_CHARS} characters.`]);
      }
      const existed = issue.properties.has(key);
      issue.properties.set(key, req.json);
      return { status: existed ? 200 : 201 };
    },
  },
  {
    method: 'GET',
    template: '/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}',
    operation: 'getIssueProperty',
    handle(req) {
      const issue = requireIssue(req);
      if (isReply(issue)) return issue;
      const key = decodeURIComponent(req.params[1] ?? '');
      if (!issue.properties.has(key)) return platformError(404, [`The property with key '${key}' does not exist.`]);
      return { status: 200, body: { key, value: issue.properties.get(key) } };
    },
  },
  {
    method: 'POST',
    template: '/rest/api/3/search/jql',
    operation: 'searchAndReconsileIssuesUsingJqlPost',
    handle(req) {
      const b = (req.json ?? {}) as { jql?: string; fields?: string[]; maxResults?: number; nextPageToken?: string; properties?: string[] };
      return search(req, b.jql ?? '', b.fields, b.maxResults, b.nextPageToken, b.properties);
    },
  },
  {
    method: 'GET',
    template: '/rest/api/3/search/jql',
    operation: 'searchAndReconsileIssuesUsingJql',
    handle(req) {
      const fields = req.query.getAll('fields').flatMap((f) => f.split(','));
      const max = req.query.get('maxResults');
      return search(req, req.query.get('jql') ?? '', fields.length ? fields : undefined, max ? Number(max) : undefined, req.query.get('nextPageToken') ?? undefined);
    },
  },
];

/**
 * 413 when `adding` more would take the issue past Jira Cloud's per-issue limit (the spec's 413
 * on addComment and addAttachment: "the per-issue limit has been breached"). The words are the
 * simulator's: Jira's are not published.
 */
function overLimit(req: SimRequest, held: number, adding: number, what: 'comments' | 'attachments'): Reply | undefined {
  const limit = req.ctx.state.issueLimits[what];
  if (held + adding <= limit) return undefined;
  return platformError(413, [`The issue has reached the limit of ${limit} ${what} per issue.`]);
}

/**
 * The issue properties a search asked for (`properties`, up to 5: readable in results though
 * not searchable by JQL for an API-token client), as IssueBean.properties.
 */
function withProperties(json: Record<string, unknown>, issue: SimIssue, keys: string[] | undefined): Record<string, unknown> {
  if (!keys?.length) return json;
  const props = Object.fromEntries(keys.slice(0, 5).filter((k) => issue.properties.has(k)).map((k) => [k, issue.properties.get(k)]));
  return { ...json, properties: props };
}

function search(req: SimRequest, jql: string, fields: string[] | undefined, maxResults: number | undefined, token: string | undefined, properties?: string[]): Reply {
  const { ctx } = req;
  let predicate;
  try {
    // Jira answers a project the caller may not browse as one that does not exist, and returns only issues it may browse (spec: searchAndReconsileIssuesUsingJql).
    const projectVisible = (v: string) => {
      const p = ctx.state.project(v) ?? ctx.state.project(v.toUpperCase());
      return !!p && has(req.account, 'BROWSE_PROJECTS', p.key);
    };
    predicate = parseJql(jql, { indexed: ctx.state.indexedProperties, projectVisible, ...(req.account ? { currentUser: req.account.accountId } : {}) });
  } catch (e) {
    if (e instanceof JqlError) return platformError(400, [e.message]);
    throw e;
  }
  const start = token ? Number(Buffer.from(token, 'base64url').toString()) || 0 : 0;
  const max = Math.max(1, Math.min(maxResults ?? 50, SEARCH_PAGE_CAP));
  // The index lags writes: an issue created less than indexLagMs ago is not found yet.
  const all = ctx.state.allIssues().filter((i) => ctx.state.searchable(i) && has(req.account, 'BROWSE_PROJECTS', i.projectKey) && predicate(i));
  const page = all.slice(start, start + max);
  const isLast = start + page.length >= all.length;
  return {
    status: 200,
    body: {
      issues: page.map((i) => withProperties(issueJson(ctx, i, fields ?? ['id']), i, properties)),
      isLast,
      ...(isLast ? {} : { nextPageToken: Buffer.from(String(start + page.length)).toString('base64url') }),
    },
  };
}
