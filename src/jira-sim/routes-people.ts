// Who an issue belongs to besides its reporter: watchers (platform) and request participants
// (JSM). Mailroom reads both to decide whether a reply's sender may comment (issue #18).
import { jsmError, platformError, userDetailsJson, userDtoJson, type Route, type SimRequest } from './http.js';
import type { SimIssue } from './state.js';

const NO_ISSUE = 'Issue does not exist or you do not have permission to see it.';

// Watchers live beside the issue, not in its fields (Jira returns them only from this resource).
const watchersOf = new WeakMap<SimIssue, Set<string>>();

function issueOf(req: SimRequest): SimIssue | undefined {
  return req.ctx.state.issue(decodeURIComponent(req.params[0] ?? ''));
}

function watchers(issue: SimIssue): Set<string> {
  let w = watchersOf.get(issue);
  if (!w) watchersOf.set(issue, (w = new Set()));
  return w;
}

export const peopleRoutes: Route[] = [
  {
    method: 'GET',
    template: '/rest/api/3/issue/{issueIdOrKey}/watchers',
    operation: 'getIssueWatchers',
    handle(req) {
      const issue = issueOf(req);
      if (!issue) return platformError(404, [NO_ISSUE]);
      const list = [...watchers(issue)].map((id) => req.ctx.state.accounts.get(id)).filter((a) => a !== undefined);
      return {
        status: 200,
        body: {
          self: `${req.ctx.url()}/rest/api/3/issue/${issue.key}/watchers`,
          isWatching: watchers(issue).has(req.account!.accountId),
          watchCount: list.length,
          watchers: list.map((a) => userDetailsJson(req.ctx, a)),
        },
      };
    },
  },
  {
    method: 'POST',
    template: '/rest/api/3/issue/{issueIdOrKey}/watchers',
    operation: 'addWatcher',
    handle(req) {
      const issue = issueOf(req);
      if (!issue) return platformError(404, [NO_ISSUE]);
      // The body is the account id as a JSON string; none means the caller.
      const id = typeof req.json === 'string' ? req.json : req.account!.accountId;
      if (!req.ctx.state.accounts.has(id)) return platformError(400, ['The user does not exist.']);
      watchers(issue).add(id);
      return { status: 204 };
    },
  },
  {
    method: 'GET',
    template: '/rest/servicedeskapi/request/{issueIdOrKey}/participant',
    operation: 'getRequestParticipants',
    handle(req) {
      const issue = issueOf(req);
      if (!issue || !issue.serviceDeskId) return jsmError(404, 'Request does not exist or you do not have permission to see it.');
      const ids = Array.isArray(issue.fields.requestParticipants) ? (issue.fields.requestParticipants as string[]) : [];
      const values = ids.map((id) => req.ctx.state.accounts.get(id)).filter((a) => a !== undefined).map(userDtoJson);
      return { status: 200, body: { size: values.length, start: 0, limit: 50, isLastPage: true, values } };
    },
  },
];
