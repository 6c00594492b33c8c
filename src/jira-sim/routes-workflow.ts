// An issue's life after its create: links between issues (POST /rest/api/3/issueLink, Link
// issues permission on the outward issue's project) and transitions (GET/POST
// /rest/api/3/issue/{issueIdOrKey}/transitions), each valid only from the statuses it leads
// from. One workflow for every project (state.workflow): To Do, In Progress, Done, and Reopen
// from Done; the Done transition's screen has the Resolution field and sets resolutiondate, as
// Jira's default workflow does (docs/jira-simulator-workflow.md).
import { has, platformError, type Reply, type Route, type SimRequest } from './http.js';
import { LINK_TYPES, RESOLUTIONS, type SimIssue, type SimTransition } from './state.js';

const NO_ISSUE = 'Issue does not exist or you do not have permission to see it.';

function issueAt(req: SimRequest, ref: unknown): SimIssue | undefined {
  const r = ref as { key?: string; id?: string } | undefined;
  const k = r?.key ?? r?.id;
  return typeof k === 'string' ? req.ctx.state.issue(k) : undefined;
}

function transitionJson(t: SimTransition, withFields: boolean) {
  const fields = t.to.statusCategory.key === 'done' ? { resolution: { required: false, name: 'Resolution', allowedValues: RESOLUTIONS.map((name, i) => ({ id: String(10000 + i), name })) } } : {};
  return { id: t.id, name: t.name, to: { name: t.to.name, statusCategory: { ...t.to.statusCategory } }, hasScreen: t.to.statusCategory.key === 'done', ...(withFields ? { fields } : {}) };
}

/** The transitions valid from the issue's current status (what GET transitions lists). */
function validFrom(req: SimRequest, issue: SimIssue): SimTransition[] {
  // An issue made without a status (tests seed them through state.createIssue) is in the first one.
  const status = (issue.fields.status as { name?: string } | undefined)?.name ?? 'To Do';
  return req.ctx.state.workflow.filter((t) => t.from.includes(status));
}

function doTransition(req: SimRequest, issue: SimIssue): Reply {
  const b = (req.json ?? {}) as { transition?: { id?: string }; fields?: { resolution?: { name?: string; id?: string } } };
  // One not valid from the current status is refused like an unknown one (doTransition: 400).
  const t = validFrom(req, issue).find((x) => x.id === String(b.transition?.id ?? ''));
  if (!t) return platformError(400, [`Transition id '${String(b.transition?.id ?? '')}' is not valid for this issue.`]);
  if (!has(req.account, 'TRANSITION_ISSUES', issue.projectKey)) return platformError(403, ['You do not have permission to transition this issue.']);
  const wanted = b.fields?.resolution;
  if (wanted && t.to.statusCategory.key !== 'done') return platformError(400, [], { resolution: "Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown." });
  const resolution = wanted ? RESOLUTIONS.find((r, i) => r === wanted.name || String(10000 + i) === wanted.id) : undefined;
  if (wanted && !resolution) return platformError(400, [], { resolution: `Resolution '${wanted.name ?? wanted.id}' is not valid.` });
  issue.fields.status = { name: t.to.name, statusCategory: { ...t.to.statusCategory } };
  // Jira's default workflow: reaching Done sets a resolution (Done unless one is given) and its
  // date; leaving it clears both.
  const done = t.to.statusCategory.key === 'done';
  issue.fields.resolution = done ? { name: resolution ?? 'Done' } : null;
  issue.fields.resolutiondate = done ? new Date().toISOString() : null;
  return { status: 204 };
}

export const workflowRoutes: Route[] = [
  {
    method: 'POST',
    template: '/rest/api/3/issueLink',
    operation: 'linkIssues',
    handle(req) {
      const b = (req.json ?? {}) as { type?: { name?: string; id?: string }; inwardIssue?: unknown; outwardIssue?: unknown };
      const type = LINK_TYPES.find((t) => t.name === b.type?.name || t.id === b.type?.id);
      if (!type) return platformError(404, [`No issue link type with name '${b.type?.name ?? b.type?.id ?? ''}' found.`]);
      const inward = issueAt(req, b.inwardIssue);
      const outward = issueAt(req, b.outwardIssue);
      if (!inward || !outward) return platformError(404, [NO_ISSUE]);
      if (!has(req.account, 'BROWSE_PROJECTS', outward.projectKey) || !has(req.account, 'BROWSE_PROJECTS', inward.projectKey)) return platformError(404, [NO_ISSUE]);
      // linkIssues: "Link issues" on the outward issue's project; the spec lists its absence under 404.
      if (!has(req.account, 'LINK_ISSUES', outward.projectKey)) return platformError(404, ['You do not have the permission to link issues.']);
      outward.links ??= [];
      // Jira keeps one link of a type between two issues: linking again changes nothing.
      if (!outward.links.some((l) => l.type === type.name && l.outwardIssueId === inward.id)) {
        outward.links.push({ id: req.ctx.state.id(), type: type.name, outwardIssueId: inward.id });
      }
      return { status: 201 };
    },
  },
  {
    method: 'GET',
    template: '/rest/api/3/issue/{issueIdOrKey}/transitions',
    operation: 'getTransitions',
    handle(req) {
      const issue = req.ctx.state.issue(decodeURIComponent(req.params[0] ?? ''));
      if (!issue) return platformError(404, [NO_ISSUE]);
      const withFields = (req.query.get('expand') ?? '').includes('transitions.fields');
      return { status: 200, body: { transitions: validFrom(req, issue).map((t) => transitionJson(t, withFields)) } };
    },
  },
  {
    method: 'POST',
    template: '/rest/api/3/issue/{issueIdOrKey}/transitions',
    operation: 'doTransition',
    handle(req) {
      const issue = req.ctx.state.issue(decodeURIComponent(req.params[0] ?? ''));
      if (!issue) return platformError(404, [NO_ISSUE]);
      return doTransition(req, issue);
    },
  },
];
