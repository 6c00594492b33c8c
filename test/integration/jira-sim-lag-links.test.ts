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

describe('Jira simulator: what Jira Cloud removed or refuses', () => {
  it('the old JQL search answers 410 with Jira\'s message; a project clause naming no visible project is a 400; a text over 32,767 characters a 400; a comment past the per-issue limit a 413', async () => {
    const { sim, call } = await rig({ indexLagMs: 0 });
    try {
      for (const [method, path] of [['GET', '/rest/api/3/search?jql=project%3DSUP'], ['POST', '/rest/api/3/search'], ['GET', '/rest/api/2/search?jql=project%3DSUP']] as const) {
        const r = await call(path, { method, ...(method === 'POST' ? { body: { jql: 'project = SUP' } } : {}) });
        expect(r.status).toBe(410);
        expect(r.body).toEqual({ errorMessages: [expect.stringMatching(/^The requested API has been removed\. Please migrate to the \/rest\/api\/3\/search\/jql API\./)], errors: {} });
      }
      const refused = await call('/rest/api/3/search/jql', { method: 'POST', body: { jql: 'project in (SUP, OLD)' } });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ errorMessages: ["The value 'OLD' does not exist for the field 'project'."] });
      const doc = (text: string) => ({ type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });
      const long = await call('/rest/api/3/issue', { method: 'POST', body: { fields: { project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 's', description: doc('x'.repeat(32_768)) } } });
      expect(long.status).toBe(400);
      expect(long.body).toMatchObject({ errors: { description: 'The entered text is too long. It exceeds the allowed limit of 32,767 characters.' } });
      const made = await call('/rest/api/3/issue', { method: 'POST', body: { fields: { project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 's', description: doc('x'.repeat(32_767)) } } });
      expect(made.status).toBe(201);
      sim.state.issueLimits.comments = 1;
      expect((await call(`/rest/api/3/issue/${String(made.body!.key)}/comment`, { method: 'POST', body: { body: doc('one') } })).status).toBe(201);
      expect((await call(`/rest/api/3/issue/${String(made.body!.key)}/comment`, { method: 'POST', body: { body: doc('two') } })).status).toBe(413);
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
      const progress = t.transitions.find((x) => x.to.statusCategory.key === 'indeterminate')!;
      expect((await call(`/rest/api/3/issue/${dup.key}/transitions`, { method: 'POST', body: { transition: { id: progress.id }, fields: { resolution: { name: 'Duplicate' } } } })).status).toBe(400);
      expect((await call(`/rest/api/3/issue/${dup.key}/transitions`, { method: 'POST', body: { transition: { id: done.id }, fields: { resolution: { name: 'Duplicate' } } } })).status).toBe(204);
      expect(dup.fields.resolution).toEqual({ name: 'Duplicate' });
    } finally {
      await sim.close();
    }
  });

  it('transitions are those valid from the issue\'s status; Done sets resolutiondate, Reopen clears it; an invalid one is a 400', async () => {
    const { sim, call } = await rig({ indexLagMs: 0 });
    try {
      const created = await call('/rest/api/3/issue', { method: 'POST', body: { fields: { project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'w' } } });
      const key = String(created.body!.key);
      const fields = async () => ((await call(`/rest/api/3/issue/${key}?fields=status,resolution,resolutiondate`)).body as { fields: Record<string, unknown> }).fields;
      const offered = async () => ((await call(`/rest/api/3/issue/${key}/transitions`)).body as { transitions: { id: string; name: string }[] }).transitions.map((x) => x.name);
      expect(await fields()).toEqual({ status: { name: 'To Do', statusCategory: { key: 'new' } }, resolution: null, resolutiondate: null });
      expect(await offered()).toEqual(['In Progress', 'Done']);
      expect((await call(`/rest/api/3/issue/${key}/transitions`, { method: 'POST', body: { transition: { id: '31' } } })).status).toBe(204);
      const done = await fields();
      expect(done.status).toEqual({ name: 'Done', statusCategory: { key: 'done' } });
      expect(Date.now() - Date.parse(String(done.resolutiondate))).toBeLessThan(5_000);
      expect(await offered()).toEqual(['Reopen']);
      // Not valid from Done: refused as Jira does (doTransition 400), the issue unchanged.
      const again = await call(`/rest/api/3/issue/${key}/transitions`, { method: 'POST', body: { transition: { id: '21' } } });
      expect(again.status).toBe(400);
      expect(JSON.stringify(again.body)).toMatch(/not valid for this issue/);
      expect((await fields()).status).toMatchObject({ name: 'Done' });
      expect((await call(`/rest/api/3/issue/${key}/transitions`, { method: 'POST', body: { transition: { id: '41' } } })).status).toBe(204);
      expect(await fields()).toEqual({ status: { name: 'To Do', statusCategory: { key: 'new' } }, resolution: null, resolutiondate: null });
      // A workflow without Reopen (tests change state.workflow): nothing leads out of Done.
      sim.state.workflow = sim.state.workflow.filter((x) => x.name !== 'Reopen');
      await call(`/rest/api/3/issue/${key}/transitions`, { method: 'POST', body: { transition: { id: '31' } } });
      expect(await offered()).toEqual([]);
    } finally {
      await sim.close();
    }
  });

  it('GET issue returns the issue properties asked for; a link needs Link issues on the outward project (404 without, as the spec lists)', async () => {
    const { sim, site, call } = await rig({ indexLagMs: 0 });
    try {
      const p = sim.state.project('SUP')!;
      const [a, b] = [sim.state.createIssue(p, { summary: 'a' }), sim.state.createIssue(p, { summary: 'b' })];
      a.properties.set('mailroom.comments', { ids: ['x'] });
      expect((await call(`/rest/api/3/issue/${a.key}?fields=summary&properties=mailroom.comments,absent`)).body).toMatchObject({ fields: { summary: 'a' }, properties: { 'mailroom.comments': { ids: ['x'] } } });
      expect((await call(`/rest/api/3/issue/${b.key}?fields=summary&properties=mailroom.comments`)).body).toMatchObject({ properties: {} });
      expect((await call(`/rest/api/3/issue/${b.key}?fields=summary`)).body).not.toHaveProperty('properties');
      const admin = sim.state.accounts.get(site.admin.accountId)!;
      admin.siteAdmin = false;
      for (const perm of PROJECT_PERMISSIONS) admin.permissions.delete(perm);
      admin.projectPermissions.set('SUP', new Set(PROJECT_PERMISSIONS.filter((x) => x !== 'LINK_ISSUES')));
      const link = { type: { name: 'Relates' }, outwardIssue: { key: b.key }, inwardIssue: { key: a.key } };
      const refused = await call('/rest/api/3/issueLink', { method: 'POST', body: link });
      expect(refused.status).toBe(404);
      expect(JSON.stringify(refused.body)).toMatch(/permission to link issues/);
      expect(b.links ?? []).toHaveLength(0);
      admin.projectPermissions.get('SUP')!.add('LINK_ISSUES');
      expect((await call('/rest/api/3/issueLink', { method: 'POST', body: link })).status).toBe(201);
    } finally {
      await sim.close();
    }
  });
});
