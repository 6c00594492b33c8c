// What the reconcile pass needs of an issue's life after its create: links between issues
// (POST /rest/api/3/issueLink) and transitions with a resolution (GET/POST
// /rest/api/3/issue/{issueIdOrKey}/transitions). One workflow for every project: To Do,
// In Progress, Done; the Done transition's screen has the Resolution field, as Jira's default
// workflow does (docs/jira-simulator.md).
import { has, platformError, type Reply, type Route, type SimRequest } from './http.js';
import { LINK_TYPES, RESOLUTIONS, TRANSITIONS, type SimIssue } from './state.js';

const NO_ISSUE = 'Issue does not exist or you do not have permission to see it.';

function issueAt(req: SimRequest, ref: unknown): SimIssue | undefined {
  const r = ref as { key?: string; id?: string } | undefined;
  const k = r?.key ?? r?.id;
  return typeof k === 'string' ? req.ctx.state.issue(k) : undefined;
}

function transitionJson(t: (typeof TRANSITIONS)[number], withFields: boolean) {
  const fields = t.to.statusCategory.key === 'done' ? { resolution: { required: false, name: 'Resolution', allowedValues: RESOLUTIONS.map((name, i) => ({ id: String(10000 + i), name })) } } : {};
  return { id: t.id, name: t.name, to: t.to, hasScreen: t.to.statusCategory.key === 'done', ...(withFields ? { fields } : {}) };
}

function doTransition(req: SimRequest, issue: SimIssue): Reply {
  const b = (req.json ?? {}) as { transition?: { id?: string }; fields?: { resolution?: { name?: string; id?: string } } };
  const t = TRANSITIONS.find((x) => x.id === String(b.transition?.id ?? ''));
  if (!t) return platformError(400, ['Transition id is not valid for this issue.']);
  if (!has(req.account, 'TRANSITION_ISSUES', issue.projectKey)) return platformError(403, ['You do not have permission to transition this issue.']);
  const wanted = b.fields?.resolution;
  if (wanted && t.to.statusCategory.key !== 'done') return platformError(400, [], { resolution: "Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown." });
  const resolution = wanted ? RESOLUTIONS.find((r, i) => r === wanted.name || String(10000 + i) === wanted.id) : undefined;
  if (wanted && !resolution) return platformError(400, [], { resolution: `Resolution '${wanted.name ?? wanted.id}' is not valid.` });
  issue.fields.status = { name: t.to.name, statusCategory: t.to.statusCategory };
  // Jira's default workflow: reaching Done sets a resolution (Done unless one is given); leaving it clears it.
  issue.fields.resolution = t.to.statusCategory.key === 'done' ? { name: resolution ?? 'Done' } : null;
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
      return { status: 200, body: { transitions: TRANSITIONS.map((t) => transitionJson(t, withFields)) } };
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
