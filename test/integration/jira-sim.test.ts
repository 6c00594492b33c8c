// The simulator's Jira behaviours and its violation counters, seen with plain fetch (not the
// client), so a client bug cannot hide a simulator bug.
import { describe, expect, it } from 'vitest';
import { startJiraSim } from '../../src/jira-sim/index.js';
import { withSim } from '../helpers/jira-sim.js';
import { specsDir } from '../helpers/corpus.js';

const jira = withSim();

function basic(email: string, token: string): string {
  return 'Basic ' + Buffer.from(`${email}:${token}`).toString('base64');
}

async function call(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string>; auth?: string | null } = {}) {
  const { site, sim } = jira();
  const headers: Record<string, string> = { ...init.headers };
  const auth = init.auth === undefined ? basic(site.admin.email, site.admin.token) : init.auth;
  if (auth) headers.authorization = auth;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(sim.url + path, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* plain text */
  }
  return { status: res.status, headers: res.headers, body };
}

const BAD = () => basic(jira().site.admin.email, 'ATATT-wrong-token-123456');

describe('Jira simulator: authentication corners', () => {
  it('user search with a bad token: 200, empty, X-Seraph-LoginReason', async () => {
    const r = await call('/rest/api/3/user/search?query=alice%40acme.example', { auth: BAD() });
    expect(r.status).toBe(200);
    expect(r.body).toEqual([]);
    expect(r.headers.get('x-seraph-loginreason')).toBe('AUTHENTICATED_FAILED');
    const ok = await call('/rest/api/3/user/search?query=alice%40acme.example');
    expect((ok.body as unknown[]).length).toBe(1);
    expect(ok.headers.get('x-seraph-loginreason')).toBeNull();
  });

  it('mypermissions with a bad token: 200, havePermission false, X-Seraph-LoginReason', async () => {
    const r = await call('/rest/api/3/mypermissions?permissions=ADMINISTER', { auth: BAD() });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ permissions: { ADMINISTER: { havePermission: false } } });
    expect(r.headers.get('x-seraph-loginreason')).toBe('AUTHENTICATED_FAILED');
    expect((await call('/rest/api/3/mypermissions')).status).toBe(400); // permissions is required
  });

  it('login-only endpoints answer 401 (platform: errorMessages, JSM: errorMessage)', async () => {
    const r = await call('/rest/api/3/myself', { auth: BAD() });
    expect(r.status).toBe(401);
    expect(r.body).toHaveProperty('errorMessages');
    expect(r.headers.get('x-seraph-loginreason')).toBe('AUTHENTICATED_FAILED');
    const j = await call('/rest/servicedeskapi/customer', { method: 'POST', body: { email: 'a@b.example' }, auth: null });
    expect(j.status).toBe(401);
    expect(j.body).toHaveProperty('errorMessage');
    expect(j.headers.get('x-seraph-loginreason')).toBeNull(); // no credentials at all: anonymous, not refused
  });

  it('a token with an expiry time stops working after it', async () => {
    const { sim, site } = jira();
    const token = sim.state.addToken({ accountId: site.admin.accountId, expiresAt: Date.now() - 1 });
    expect((await call('/rest/api/3/myself', { auth: basic(site.admin.email, token) })).status).toBe(401);
    expect(sim.state.tokens.get(token)!.status).toBe('expired');
  });
});

describe('Jira simulator: Jira\'s unpleasant corners', () => {
  it('hidden emails are searchable but never shown', async () => {
    const r = await call('/rest/api/3/user/search?query=quiet%40partner.example');
    expect(r.body).toEqual([expect.objectContaining({ displayName: 'Quinn Quiet' })]);
    expect((r.body as object[])[0]).not.toHaveProperty('emailAddress');
  });

  it('createUser: products required, 400 for an existing email', async () => {
    expect((await call('/rest/api/3/user', { method: 'POST', body: { emailAddress: 'n@x.example' } })).status).toBe(400);
    expect((await call('/rest/api/3/user', { method: 'POST', body: { emailAddress: 'n@x.example', products: [] } })).status).toBe(201);
    const dup = await call('/rest/api/3/user', { method: 'POST', body: { emailAddress: 'N@x.example', products: [] } });
    expect(dup.status).toBe(400);
    expect(JSON.stringify(dup.body)).toMatch(/already exists/);
  });

  it('createCustomer: 400 for an existing email, 409 only with strictConflictStatusCode=true', async () => {
    const body = { email: 'carol@customer.example', displayName: 'Carol' };
    expect((await call('/rest/servicedeskapi/customer', { method: 'POST', body })).status).toBe(400);
    expect((await call('/rest/servicedeskapi/customer?strictConflictStatusCode=true', { method: 'POST', body })).status).toBe(409);
  });

  it('adding an existing group member is 400', async () => {
    const { site } = jira();
    const r = await call('/rest/api/3/group/user?groupname=jira-software-users', { method: 'POST', body: { accountId: site.users.alice.accountId } });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(/already a member/);
  });

  it('experimental JSM calls need X-ExperimentalApi: opt-in (412 without)', async () => {
    expect((await call('/rest/servicedeskapi/servicedesk/1/customer')).status).toBe(412);
    const ok = await call('/rest/servicedeskapi/servicedesk/1/customer', { headers: { 'X-ExperimentalApi': 'opt-in' } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ values: [expect.objectContaining({ displayName: 'Carol Customer' })] });
  });

  it('JSM request comments: a Jira user who is not an agent adds internal notes, not public replies; without Add Comments neither', async () => {
    const { sim } = jira();
    const req = await call('/rest/servicedeskapi/request', { method: 'POST', body: { serviceDeskId: '1', requestTypeId: '10', requestFieldValues: { summary: 'VPN' } } });
    const key = (req.body as { issueKey: string }).issueKey;
    // A collaborator: browses the desk's project and comments, is no agent (no SERVICEDESK_AGENT).
    const dev = sim.state.addAccount({ email: 'dev@acme.example', products: ['jira-software'], projectPermissions: { HD: ['BROWSE_PROJECTS', 'ADD_COMMENTS'] } });
    const auth = basic('dev@acme.example', sim.state.addToken({ accountId: dev.accountId }));
    const comment = (isPublic: boolean) => call(`/rest/servicedeskapi/request/${key}/comment`, { method: 'POST', auth, body: { body: 'looked at it', public: isPublic } });
    expect((await comment(false)).status).toBe(201);
    const pub = await comment(true);
    expect(pub.status).toBe(403);
    expect(pub.body).toMatchObject({ errorMessage: expect.stringMatching(/only agents/) });
    dev.projectPermissions.get('HD')!.delete('ADD_COMMENTS');
    expect(await comment(false)).toMatchObject({ status: 403, body: { errorMessage: 'You do not have permission to comment on this request.' } });
    expect(sim.state.issue(key)!.comments.map((c) => c.internal)).toEqual([true]);
  });

  it('a refused comment: 400 with Jira\'s words by default (403 when told); a status denying comments refuses, jira.issue.editable=false alone does not', async () => {
    const { sim } = jira();
    const issue = sim.state.createIssue(sim.state.project('SUP')!, { summary: 's', status: { name: 'Closed', statusCategory: { key: 'done' } } });
    const adf = { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'hi' }] }] };
    const comment = () => call(`/rest/api/3/issue/${issue.key}/comment`, { method: 'POST', body: { body: adf } });
    sim.state.statusProperties.set('Closed', { 'jira.issue.editable': 'false' });
    expect((await comment()).status).toBe(201);
    sim.state.statusProperties.set('Closed', { 'jira.issue.editable': 'false', 'jira.permission.comment.denied': '' });
    expect(await comment()).toMatchObject({ status: 400, body: { errorMessages: ['Mailroom (workaround user), you do not have the permission to comment on this issue.'], errors: {} } });
    sim.state.commentRefusalStatus = 403;
    expect((await comment()).status).toBe(403);
    // The JSM call meets the same lock (403, JSM's shape) on a request in that status.
    const req = await call('/rest/servicedeskapi/request', { method: 'POST', body: { serviceDeskId: '1', requestTypeId: '10', requestFieldValues: { summary: 'VPN' } } });
    const key = (req.body as { issueKey: string }).issueKey;
    sim.state.issue(key)!.fields.status = { name: 'Closed', statusCategory: { key: 'done' } };
    expect(await call(`/rest/servicedeskapi/request/${key}/comment`, { method: 'POST', body: { body: 'x', public: false } })).toMatchObject({ status: 403 });
    expect(issue.comments).toHaveLength(1);
  });

  it('attachments need X-Atlassian-Token: no-check (403 XSRF without)', async () => {
    const { sim } = jira();
    sim.state.createIssue(sim.state.project('SUP')!, { summary: 's' });
    const form = new FormData();
    form.append('file', new Blob(['hi']), 'a.txt');
    const auth = basic(jira().site.admin.email, jira().site.admin.token);
    const without = await fetch(`${sim.url}/rest/api/3/issue/SUP-1/attachments`, { method: 'POST', headers: { authorization: auth }, body: form });
    expect(without.status).toBe(403);
    expect(await without.text()).toMatch(/XSRF/);
    const withHeader = await fetch(`${sim.url}/rest/api/3/issue/SUP-1/attachments`, {
      method: 'POST', headers: { authorization: auth, 'X-Atlassian-Token': 'no-check' }, body: form,
    });
    expect(withHeader.status).toBe(200);
  });

  it('pages are capped as Jira caps them (group members at 50)', async () => {
    const { sim } = jira();
    const g = sim.state.addGroup({ name: 'many' });
    for (let i = 0; i < 70; i++) g.members.add(sim.state.addAccount({ email: `p${i}@many.example` }).accountId);
    const r = await call('/rest/api/3/group/member?groupname=many&maxResults=500');
    expect(r.body).toMatchObject({ maxResults: 50, isLast: false, total: 70 });
    expect((r.body as { values: unknown[] }).values).toHaveLength(50);
  });
});

describe('Jira simulator: what a good client never does', () => {
  it('counts a request sent before the Retry-After it was given', async () => {
    const { sim } = jira();
    sim.faults.rateLimit({ retryAfterSec: 30, reason: 'jira-burst-based' });
    const limited = await call('/rest/api/3/myself');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('30');
    expect(limited.headers.get('ratelimit-reason')).toBe('jira-burst-based');
    expect(limited.headers.get('x-ratelimit-reset')).toMatch(/^\d{4}-\d\d-\d\dT/);
    await call('/rest/api/3/myself');
    expect(sim.counters.violations('earlyRetry')).toBe(1);
    expect(sim.counters.violationLog('earlyRetry')[0]!.operation).toBe('getCurrentUser');

    // Waiting it out is fine.
    sim.reset();
    sim.faults.rateLimit({ retryAfterSec: 1 });
    expect((await call('/rest/api/3/myself', { auth: null })).status).toBe(429);
    await new Promise((r) => setTimeout(r, 1_050));
    await call('/rest/api/3/myself', { auth: null });
    expect(sim.counters.violations('earlyRetry')).toBe(0);
  });

  it('does not hold requests that were already in flight (within inFlightGraceMs of the 429) against the client', async () => {
    const sim = await startJiraSim({ inFlightGraceMs: 10_000 });
    try {
      sim.faults.rateLimit({ retryAfterSec: 30 });
      expect((await fetch(`${sim.url}/rest/api/3/myself`)).status).toBe(429);
      expect((await fetch(`${sim.url}/rest/api/3/myself`)).status).toBe(401);
      expect(sim.counters.violations('earlyRetry')).toBe(0);
    } finally {
      await sim.close();
    }
  });

  it('counts a create for an email that exists, and a create right after an anonymous search', async () => {
    const { sim } = jira();
    await call('/rest/api/3/user', { method: 'POST', body: { emailAddress: 'alice@acme.example', products: [] } });
    expect(sim.counters.violations('createExisting')).toBe(1);
    await call('/rest/api/3/user/search?query=fresh%40new.example', { auth: BAD() });
    await call('/rest/servicedeskapi/customer?strictConflictStatusCode=true', { method: 'POST', body: { email: 'fresh@new.example', displayName: 'F' } });
    expect(sim.counters.violations('createAfterAnonymousSearch')).toBe(1);
    // A proper search in between clears the suspicion.
    await call('/rest/api/3/user/search?query=other%40new.example', { auth: BAD() });
    await call('/rest/api/3/user/search?query=other%40new.example');
    await call('/rest/api/3/user', { method: 'POST', body: { emailAddress: 'other@new.example', products: [] } });
    expect(sim.counters.violations('createAfterAnonymousSearch')).toBe(1);
  });

  it.skipIf(!specsDir())('counts a request whose query or body breaks the OpenAPI schema', async () => {
    const { sim } = jira();
    expect(sim.checksSchema).toBe(true);
    await call('/rest/api/3/user/search?query=a&maxResults=lots');
    await call('/rest/servicedeskapi/customer', { method: 'POST', body: { email: 'x@y.example', nickname: 'x' } });
    expect(sim.counters.violations('schema')).toBe(2);
    expect(sim.counters.violationLog('schema').map((v) => v.operation)).toEqual(['findUsers', 'createCustomer']);
  });
});

describe('Jira simulator: the onAnswer hook (harness timing, bench/new-senders.ts)', () => {
  it('reports each answer written with its operation, status, request and when it arrived and was answered', async () => {
    const { sim } = jira();
    const seen: { op: string; status: number; query?: string; email?: unknown; receivedAt: number; answeredAt: number }[] = [];
    sim.faults.set({ latencyMs: 30 });
    sim.onAnswer = (a) => seen.push({ op: a.operation, status: a.status, query: a.exchange.query.get('query') ?? undefined, email: (a.exchange.body as { emailAddress?: unknown } | undefined)?.emailAddress, receivedAt: a.receivedAt, answeredAt: a.answeredAt });
    try {
      const before = Date.now();
      await call('/rest/api/3/user/search?query=hook%40acme.example');
      await call('/rest/api/3/user', { method: 'POST', body: { emailAddress: 'hook@acme.example', products: [] } });
      expect(seen.map((s) => [s.op, s.status])).toEqual([['findUsers', 200], ['createUser', 201]]);
      expect(seen[0]!.query).toBe('hook@acme.example');
      expect(seen[1]!.email).toBe('hook@acme.example');
      for (const s of seen) {
        expect(s.receivedAt).toBeGreaterThanOrEqual(before);
        // The simulated latency lies between arrival and answer: the bench reads steps from both ends.
        expect(s.answeredAt - s.receivedAt).toBeGreaterThanOrEqual(25);
      }
      expect(seen[1]!.receivedAt).toBeGreaterThanOrEqual(seen[0]!.answeredAt);
    } finally {
      sim.onAnswer = undefined;
      sim.faults.clear();
    }
  });
});

describe('Jira simulator: controls over HTTP (/__sim)', () => {
  it('seeds, adds admins and tokens, sets faults, reads counters and state, resets', async () => {
    const { sim } = jira();
    const post = (path: string, body: unknown) =>
      fetch(sim.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    await post('/__sim/reset', {});
    const admin = await post('/__sim/admins', { email: 'ops@acme.example' });
    expect(admin.status).toBe(201);
    const auth = basic('ops@acme.example', String(admin.body.token));
    expect((await fetch(`${sim.url}/rest/api/3/myself`, { headers: { authorization: auth } })).status).toBe(200);
    await post('/__sim/faults', { rateLimit: { retryAfterSec: 2 } });
    expect((await fetch(`${sim.url}/rest/api/3/myself`, { headers: { authorization: auth } })).status).toBe(429);
    await post('/__sim/tokens/revoke', { token: admin.body.token });
    expect((await fetch(`${sim.url}/rest/api/3/myself`, { headers: { authorization: auth } })).status).toBe(401);
    const counters = (await (await fetch(`${sim.url}/__sim/counters`)).json()) as { requests: Record<string, number>; violations: Record<string, number> };
    expect(counters.requests).toMatchObject({ 'getCurrentUser 200': 1, 'getCurrentUser 429': 1, 'getCurrentUser 401': 1 });
    expect(counters.violations.earlyRetry).toBe(1);
    const seeded = await post('/__sim/seed-demo', {});
    expect(seeded.body).toMatchObject({ project: 'SUP', serviceDesk: { id: '1', projectKey: 'HD', requestTypeId: '10' } });
    const state = (await (await fetch(`${sim.url}/__sim/state`)).json()) as { groups: { name: string }[]; tokens: unknown[] };
    expect(state.groups.map((g) => g.name).sort()).toEqual(['jira-software-users', 'support-customers']);
    expect(JSON.stringify(state)).not.toContain(String(admin.body.token)); // state views never list token values
  });
});
