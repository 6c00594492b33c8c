// Jira Service Management: customers, service-desk membership and customer requests. JSM
// errors are `{ errorMessage }`; experimental operations need `X-ExperimentalApi: opt-in`.
import { fireCommentCreated, fireIssueCreated } from './webhook-events.js';
import type { SimComment } from './state.js';
import { has, jsmError, userDtoJson, type Route } from './http.js';
import { createExistingChecks } from './routes-users.js';
import { intParam } from './http.js';

/** JSM pages hold at most 50 items. */
export const JSM_PAGE_CAP = 50;

export const jsmRoutes: Route[] = [
  {
    method: 'POST',
    template: '/rest/servicedeskapi/customer',
    operation: 'createCustomer',
    jsm: true,
    handle(req) {
      const { ctx } = req;
      if (!has(req.account, 'ADMINISTER')) return jsmError(403, 'You do not have permission to create customers (Jira administrator required).');
      const b = (req.json ?? {}) as { email?: unknown; displayName?: unknown; fullName?: unknown };
      if (typeof b.email !== 'string' || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(b.email.trim())) {
        return jsmError(400, 'The email address is not valid.');
      }
      const email = b.email.trim().toLowerCase();
      createExistingChecks(req, 'createCustomer', email);
      if (ctx.state.accountsByEmail(email).length > 0) {
        const strict = req.query.get('strictConflictStatusCode') === 'true';
        return jsmError(strict ? 409 : 400, 'An account already exists for this email');
      }
      const name = typeof b.displayName === 'string' && b.displayName ? b.displayName : typeof b.fullName === 'string' ? b.fullName : email;
      const a = ctx.state.addAccount({ email, displayName: name, accountType: 'customer' });
      return { status: 201, body: userDtoJson(a) };
    },
  },
  {
    method: 'POST',
    template: '/rest/servicedeskapi/servicedesk/{serviceDeskId}/customer',
    operation: 'addCustomers',
    jsm: true,
    handle(req) {
      const { ctx } = req;
      const desk = ctx.state.serviceDesks.get(decodeURIComponent(req.params[0] ?? ''));
      if (!desk) return jsmError(404, 'The service desk does not exist.');
      if (!has(req.account, 'ADMINISTER')) return jsmError(403, 'You do not have permission to manage customers of this service desk.');
      const ids = (req.json as { accountIds?: unknown } | undefined)?.accountIds;
      if (!Array.isArray(ids) || ids.length === 0) return jsmError(400, 'Specify at least one accountId.');
      const missing: string[] = [];
      for (const id of ids.map(String)) {
        if (ctx.state.accounts.has(id)) desk.customers.add(id);
        else missing.push(id);
      }
      // Jira adds the valid ones and still answers 400 for the rest.
      if (missing.length) return jsmError(400, `These users do not exist: ${missing.join(', ')}`);
      return { status: 204 };
    },
  },
  {
    method: 'GET',
    template: '/rest/servicedeskapi/servicedesk/{serviceDeskId}',
    operation: 'getServiceDeskById',
    jsm: true,
    handle(req) {
      const { ctx } = req;
      const desk = ctx.state.serviceDesks.get(decodeURIComponent(req.params[0] ?? ''));
      if (!desk) return jsmError(404, 'The service desk does not exist.');
      const project = ctx.state.project(desk.projectKey)!;
      if (!has(req.account, 'BROWSE_PROJECTS', project.key)) return jsmError(403, 'You do not have permission to access this service desk.');
      return {
        status: 200,
        body: {
          id: desk.id,
          projectId: project.id,
          projectName: project.name,
          projectKey: project.key,
          projectTypeKey: 'service_desk',
          _links: { self: `${ctx.url()}/rest/servicedeskapi/servicedesk/${desk.id}` },
        },
      };
    },
  },
  {
    method: 'GET',
    template: '/rest/servicedeskapi/servicedesk/{serviceDeskId}/customer',
    operation: 'getCustomers',
    jsm: true,
    experimental: true,
    handle(req) {
      const { ctx } = req;
      const desk = ctx.state.serviceDesks.get(decodeURIComponent(req.params[0] ?? ''));
      if (!desk) return jsmError(404, 'The service desk does not exist.');
      const q = (req.query.get('query') ?? '').toLowerCase();
      const all = [...desk.customers]
        .map((id) => ctx.state.accounts.get(id))
        .filter((a) => !!a && (!q || a.email?.includes(q) || a.displayName.toLowerCase().includes(q)))
        .map((a) => userDtoJson(a!));
      const start = intParam(req.query, 'start', 0);
      const limit = Math.min(intParam(req.query, 'limit', JSM_PAGE_CAP), JSM_PAGE_CAP);
      const values = all.slice(start, start + limit);
      return { status: 200, body: { _expands: [], size: values.length, start, limit, isLastPage: start + values.length >= all.length, values } };
    },
  },
  {
    method: 'GET',
    template: '/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}',
    operation: 'getRequestTypeById',
    jsm: true,
    handle(req) {
      const { ctx } = req;
      const desk = ctx.state.serviceDesks.get(decodeURIComponent(req.params[0] ?? ''));
      const type = desk?.requestTypes.get(decodeURIComponent(req.params[1] ?? ''));
      if (!desk || !type) return jsmError(404, 'The service desk or request type does not exist.');
      return { status: 200, body: { id: type.id, name: type.name, serviceDeskId: desk.id, issueTypeId: '', description: '', helpText: '', groupIds: [] } };
    },
  },
  {
    method: 'POST',
    template: '/rest/servicedeskapi/request',
    operation: 'createCustomerRequest',
    jsm: true,
    handle(req) {
      const { ctx } = req;
      const b = (req.json ?? {}) as {
        serviceDeskId?: string;
        requestTypeId?: string;
        requestFieldValues?: Record<string, unknown>;
        raiseOnBehalfOf?: string;
        requestParticipants?: string[];
      };
      const desk = ctx.state.serviceDesks.get(String(b.serviceDeskId ?? ''));
      if (!desk) return jsmError(400, `The service desk '${String(b.serviceDeskId)}' does not exist.`);
      const type = desk.requestTypes.get(String(b.requestTypeId ?? ''));
      if (!type) return jsmError(400, `The request type '${String(b.requestTypeId)}' does not exist in service desk ${desk.id}.`);
      const fv = b.requestFieldValues ?? {};
      if (typeof fv.summary !== 'string' || !fv.summary.trim()) return jsmError(400, 'Summary: You must specify a summary of the issue.');
      if (fv.description !== undefined && typeof fv.description !== 'string') {
        return jsmError(400, 'Description: the value must be text unless isAdfRequest is true.');
      }
      // "Permission to create requests in the specified service desk"; "raiseOnBehalfOf is not
      // available to Users who have the customer permission only" (spec, createCustomerRequest):
      // 403 without Create issues (or being the desk's customer), and for another's request
      // without agent access. The words are the simulator's (docs/jira-permissions.md).
      const caller = req.account!;
      if (!desk.customers.has(caller.accountId) && !has(caller, 'CREATE_ISSUES', desk.projectKey)) {
        return jsmError(403, 'You do not have permission to create requests in this service desk.');
      }
      let reporter = caller;
      if (b.raiseOnBehalfOf !== undefined) {
        const r = ctx.state.accounts.get(b.raiseOnBehalfOf) ?? ctx.state.accountsByEmail(b.raiseOnBehalfOf)[0];
        if (!r) return jsmError(400, `The user '${b.raiseOnBehalfOf}' does not exist.`);
        if (r.accountId !== caller.accountId && !has(caller, 'SERVICEDESK_AGENT', desk.projectKey)) {
          return jsmError(403, 'You do not have permission to raise a request on behalf of another customer: only agents of the service desk can.');
        }
        if (r.accountType === 'customer' && !desk.customers.has(r.accountId)) {
          return jsmError(400, `The user '${r.displayName}' is not a customer of this service desk.`);
        }
        reporter = r;
      }
      const participants: string[] = [];
      for (const p of b.requestParticipants ?? []) {
        if (!ctx.state.accounts.has(p)) return jsmError(400, `The participant '${p}' does not exist.`);
        participants.push(p);
      }
      const project = ctx.state.project(desk.projectKey)!;
      const issue = ctx.state.createIssue(project, {
        summary: fv.summary,
        description: fv.description,
        issuetype: { name: type.issueTypeName },
        project: { key: project.key, id: project.id, name: project.name },
        reporter: { accountId: reporter.accountId, displayName: reporter.displayName },
        creator: { accountId: req.account!.accountId, displayName: req.account!.displayName },
        requestParticipants: participants,
        // JSM's first status, in the "In Progress" category (docs/jira-simulator-workflow.md).
        status: { name: 'Waiting for support', statusCategory: { key: 'indeterminate' } },
        resolution: null,
        resolutiondate: null,
        created: new Date().toISOString(),
      });
      issue.serviceDeskId = desk.id;
      issue.requestTypeId = type.id;
      fireIssueCreated(ctx, issue, req.account);
      return {
        status: 201,
        body: {
          issueId: issue.id,
          issueKey: issue.key,
          requestTypeId: type.id,
          serviceDeskId: desk.id,
          summary: fv.summary,
          reporter: userDtoJson(reporter),
        },
      };
    },
  },
  {
    // ../shared/specs/jira-servicedesk.json `createRequestComment` (CommentCreateDTO {body, public}
    // -> 201 CommentDTO): "a public or private (internal) comment on a customer request ...
    // Customers can set comments to public visibility only"; permission: Add Comments. Who may
    // set which visibility (docs/jira.md cites the sources): an internal note needs Add Comments
    // only (Jira users who are not agents, "collaborators", add internal comments); a public one,
    // which JSM mails to the customer, needs an agent (SERVICEDESK_AGENT in the desk's project).
    method: 'POST',
    template: '/rest/servicedeskapi/request/{issueIdOrKey}/comment',
    operation: 'createRequestComment',
    jsm: true,
    handle(req) {
      const { ctx } = req;
      const issue = ctx.state.issue(decodeURIComponent(req.params[0] ?? ''));
      if (!issue || !issue.serviceDeskId || !has(req.account, 'BROWSE_PROJECTS', issue.projectKey)) return jsmError(404, 'The request does not exist or you do not have permission to see it.');
      if (!has(req.account, 'ADD_COMMENTS', issue.projectKey) || ctx.state.commentsLocked(issue)) return jsmError(403, 'You do not have permission to comment on this request.');
      const b = (req.json ?? {}) as { body?: unknown; public?: unknown };
      if (typeof b.body !== 'string' || !b.body.trim()) return jsmError(400, 'The comment body is required.');
      const isPublic = b.public === undefined ? true : b.public;
      if (typeof isPublic !== 'boolean') return jsmError(400, 'public must be true or false.');
      if (!isPublic && req.account!.accountType === 'customer') return jsmError(400, 'Customers can only add public comments.');
      if (isPublic && req.account!.accountType !== 'customer' && !has(req.account, 'SERVICEDESK_AGENT', issue.projectKey)) {
        return jsmError(403, 'You do not have permission to add a public comment to this request: only agents of the service desk can reply to customers.');
      }
      // Stored as the platform API shows it (ADF, one paragraph per line), `jsdPublic` from `public`.
      const body = { type: 'doc', version: 1, content: b.body.split('\n').filter((l) => l.trim()).map((l) => ({ type: 'paragraph', content: [{ type: 'text', text: l }] })) };
      const c: SimComment = { id: ctx.state.id(), authorId: req.account!.accountId, body, created: new Date().toISOString(), ...(isPublic ? {} : { internal: true }) };
      issue.comments.push(c);
      fireCommentCreated(ctx, issue, c);
      return { status: 201, body: { id: c.id, body: b.body, public: isPublic, author: userDtoJson(req.account!), created: { iso8601: c.created } } };
    },
  },
];
