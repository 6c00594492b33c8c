// The simulator's search lag, per-scope rate limits, hidden issues, links and transitions, seen
// with plain fetch (not the client), so a client bug cannot hide a simulator bug
// (docs/jira-simulator-limits-and-lag.md).
import { describe, expect, it } from 'vitest';
import { startJiraSim, seedDemo } from '../../src/jira-sim/index.js';
import { PROJECT_PERMISSIONS } from '../../src/jira-sim/state.js';

async function rig(o: { indexLagMs?: number } = {}) {
  const sim = await startJiraSim(o);
  const site = seedDemo(sim);
  const auth = 'Basic ' + Buffer.from(`${site.admin.email}:${site.admin.token}`).toString('base64');
  const call = async (path: string, init: { method?: string; body?: unknown } = {}) => {
    const res = await fetch(sim.url + path, {
      method: init.method ?? 'GET',
      headers: { authorization: auth, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    const text = await res.text();
    const json = /json/.test(res.headers.get('content-type') ?? '') && text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    return { status: res.status, headers: res.headers, body: json };
  };
  const search = async (jql: string, extra: Record<string, unknown> = {}) =>
    ((await call('/rest/api/3/search/jql', { method: 'POST', body: { jql, fields: ['summary'], ...extra } })).body as { issues: { key: string; properties?: Record<string, unknown> }[] }).issues;
  return { sim, site, call, search };
}

describe('Jira simulator: search lag', () => {
  it('by default a new issue is found by JQL only after the index lag (2 s); GET sees it at once', { timeout: 15_000 }, async () => {
    const { sim, call, search } = await rig();
    try {
      const created = await call('/rest/api/3/issue', { method: 'POST', body: { fields: { project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'lagging' } } });
      expect(created.status).toBe(201);
      expect(await search('project = SUP')).toEqual([]);
      expect((await call(`/rest/api/3/issue/${String(created.body!.key)}`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 2_100));
      expect((await search('project = SUP')).map((i) => i.key)).toEqual([created.body!.key]);
    } finally {
      await sim.close();
    }
  });

  it('POST /__sim/index-lag sets it; search results carry the properties asked for', async () => {
    const { sim, call, search } = await rig({ indexLagMs: 0 });
    try {
      expect((await call('/__sim/index-lag', { method: 'POST', body: { ms: 60_000 } })).status).toBe(200);
      expect(sim.state.indexLagMs).toBe(60_000);
      sim.state.indexLagMs = 0;
      await call('/rest/api/3/issue', { method: 'POST', body: { fields: { project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'p' }, properties: [{ key: 'mailroom.message', value: { id: 'm1' } }] } });
      expect((await search('project = SUP', { properties: ['mailroom.message'] }))[0]!.properties).toEqual({ 'mailroom.message': { id: 'm1' } });
    } finally {
      await sim.close();
    }
  });
});

describe('Jira simulator: rate limits by scope, hidden issues, links, transitions', () => {
  it('a per-issue 429 names its reason and holds that issue only (no earlyRetry for other issues)', async () => {
    const { sim, call } = await rig({ indexLagMs: 0 });
    try {
      const p = sim.state.project('SUP')!;
      const [a, b] = [sim.state.createIssue(p, { summary: 'a' }), sim.state.createIssue(p, { summary: 'b' })];
      sim.faults.rateLimit({ reason: 'jira-per-issue-on-write', issue: a.key, retryAfterSec: 5 });
      const limited = await call(`/rest/api/3/issue/${b.key}/properties/x`, { method: 'PUT', body: { n: 1 } });
      expect(limited.status).toBe(201); // the fault waits for its issue
      const r = await call(`/rest/api/3/issue/${a.key}/properties/x`, { method: 'PUT', body: { n: 1 } });
      expect(r.status).toBe(429);
      expect(r.headers.get('ratelimit-reason')).toBe('jira-per-issue-on-write');
      expect(r.headers.get('retry-after')).toBe('5');
      await call(`/rest/api/3/issue/${b.key}/properties/x`, { method: 'PUT', body: { n: 2 } });
      expect(sim.counters.violations('earlyRetry')).toBe(0);
      await call(`/rest/api/3/issue/${a.key}/properties/x`, { method: 'PUT', body: { n: 2 } });
      expect(sim.counters.violations('earlyRetry')).toBe(1);
    } finally {
      await sim.close();
    }
  });

  it('an issue in a project the account may not browse answers 404 as a missing one', async () => {
    const { sim, site, call } = await rig({ indexLagMs: 0 });
    try {
      const hidden = sim.state.createIssue(sim.state.addProject({ key: 'PRIV' }), { summary: 'x' });
      const admin = sim.state.accounts.get(site.admin.accountId)!;
      admin.siteAdmin = false;
      for (const p of PROJECT_PERMISSIONS) admin.permissions.delete(p);
      admin.projectPermissions.set('SUP', new Set(PROJECT_PERMISSIONS));
      const seen = await call(`/rest/api/3/issue/${hidden.key}`);
      const missing = await call('/rest/api/3/issue/PRIV-999');
      expect(seen.status).toBe(404);
      expect(seen.body).toEqual(missing.body);
    } finally {
      await sim.close();
    }
  });

  it('links (idempotent) and a Done transition with resolution Duplicate', async () => {
    const { sim, call } = await rig({ indexLagMs: 0 });
    try {
      const p = sim.state.project('SUP')!;
      const [old, dup] = [sim.state.createIssue(p, { summary: 'a' }), sim.state.createIssue(p, { summary: 'a' })];
      const link = { type: { name: 'Duplicate' }, outwardIssue: { key: dup.key }, inwardIssue: { key: old.key } };
      expect((await call('/rest/api/3/issueLink', { method: 'POST', body: link })).status).toBe(201);
      expect((await call('/rest/api/3/issueLink', { method: 'POST', body: link })).status).toBe(201);
      expect(dup.links).toHaveLength(1);
      const t = (await call(`/rest/api/3/issue/${dup.key}/transitions?expand=transitions.fields`)).body as { transitions: { id: string; to: { statusCategory: { key: string } }; fields: { resolution?: unknown } }[] };
      const done = t.transitions.find((x) => x.to.statusCategory.key === 'done')!;
      expect(done.fields.resolution).toBeDefined();
      const todo = t.transitions.find((x) => x.to.statusCategory.key === 'new')!;
      expect((await call(`/rest/api/3/issue/${dup.key}/transitions`, { method: 'POST', body: { transition: { id: todo.id }, fields: { resolution: { name: 'Duplicate' } } } })).status).toBe(400);
      expect((await call(`/rest/api/3/issue/${dup.key}/transitions`, { method: 'POST', body: { transition: { id: done.id }, fields: { resolution: { name: 'Duplicate' } } } })).status).toBe(204);
      expect(dup.fields.resolution).toEqual({ name: 'Duplicate' });
    } finally {
      await sim.close();
    }
  });
});
