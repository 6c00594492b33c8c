// What happens to an issue after its create: links between issues and workflow transitions
// (the reconcile pass resolves a duplicate with them, src/deliver/reconcile.ts).
import type { JiraClient } from './client.js';
import { enc, type JiraCore } from './core.js';

export type WorkflowMethods = Pick<JiraClient, 'linkIssues' | 'getTransitions' | 'transitionIssue'>;

type TransitionBody = {
  transitions?: { id?: unknown; name?: unknown; to?: { statusCategory?: { key?: unknown } }; fields?: Record<string, { allowedValues?: { name?: unknown }[] }> }[];
};

export function workflowMethods({ call, expectOk }: JiraCore): WorkflowMethods {
  return {
    async linkIssues(from, type, to) {
      const op = 'linkIssues';
      // Jira's issueLink: the outward issue "<type.outward>" the inward one (DUP-2 duplicates DUP-1).
      expectOk(op, await call(op, { method: 'POST', path: '/rest/api/3/issueLink', json: { type: { name: type }, outwardIssue: { key: from }, inwardIssue: { key: to } } }));
    },

    async getTransitions(issueIdOrKey) {
      const op = 'getTransitions';
      const body = expectOk(op, await call(op, {
        method: 'GET',
        path: `/rest/api/3/issue/${enc(issueIdOrKey)}/transitions`,
        query: { expand: 'transitions.fields' },
      })) as TransitionBody;
      return (body?.transitions ?? []).map((t) => ({
        id: String(t.id ?? ''),
        name: String(t.name ?? ''),
        toCategory: String(t.to?.statusCategory?.key ?? ''),
        resolutions: (t.fields?.resolution?.allowedValues ?? []).map((v) => String(v.name ?? '')).filter(Boolean),
      }));
    },

    async transitionIssue(issueIdOrKey, transitionId, resolution) {
      const op = 'doTransition';
      const json: Record<string, unknown> = { transition: { id: transitionId } };
      if (resolution) json.fields = { resolution: { name: resolution } };
      expectOk(op, await call(op, { method: 'POST', path: `/rest/api/3/issue/${enc(issueIdOrKey)}/transitions`, json }));
    },
  };
}
