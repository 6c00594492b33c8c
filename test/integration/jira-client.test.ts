// The Jira client over real HTTP against the simulator: every typed outcome, and the token
// never showing up in an error or a log line.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AuthError, NotFoundError, PermanentError, RateLimitedError, RetryableError } from '../../src/core/errors.js';
import { AlreadyExistsError, IssueLimitError, JiraNoAnswerError, JiraServerError, PermissionError } from '../../src/jira/index.js';
import { createLogger } from '../../src/core/log.js';
import { startJiraSim } from '../../src/jira-sim/index.js';
import { GLOBAL_PERMISSIONS, PROJECT_PERMISSIONS } from '../../src/jira-sim/state.js';
import { withSim } from '../helpers/jira-sim.js';

const jira = withSim();

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to fail');
}

describe('Jira client: lookups', () => {
  it('finds a user by exact, case-insensitive email, not by prefix', async () => {
    const { sim, site } = jira();
    sim.state.addAccount({ email: 'bob@partner.example.org', displayName: 'Other Bob' });
    const r = await jira().client().findUsersByEmail('BOB@Partner.example');
    expect(r.emailHidden).toBe(false);
    expect(r.accounts.map((a) => a.accountId)).toEqual([site.users.bob.accountId]);
  });

  it('accepts a single hidden-email result for a full email and says so', async () => {
    const r = await jira().client().findUsersByEmail('quiet@partner.example');
    expect(r).toEqual({ accounts: [expect.objectContaining({ accountId: jira().site.users.hidden.accountId })], emailHidden: true });
    expect(r.accounts[0]!.emailAddress).toBeUndefined();
  });

  it("a deactivated account is not found by its email: Jira's user search returns active users only", async () => {
    expect(await jira().client().findUsersByEmail('former@acme.example')).toEqual({ accounts: [], emailHidden: false });
  });

  it('an unknown email with a working token is a real "no such user"', async () => {
    expect(await jira().client().findUserByEmail('nobody@nowhere.example')).toBeNull();
    expect(jira().sim.counters.count('findUsers', 200)).toBe(1);
  });

  it('myself and myPermissions report the workaround account', async () => {
    const c = jira().client();
    expect(await c.myself()).toMatchObject({ accountId: jira().site.admin.accountId, emailAddress: jira().site.admin.email, active: true });
    expect(await c.myPermissions(['ADMINISTER', 'USER_PICKER'])).toEqual({ ADMINISTER: true, USER_PICKER: true });
  });

  it('groupMembers follows every page (Jira caps pages at 50) and leaves out inactive members', async () => {
    const { sim } = jira();
    const g = sim.state.addGroup({ name: 'big-group' });
    for (let i = 0; i < 120; i++) g.members.add(sim.state.addAccount({ email: `m${i}@big.example`, active: i % 10 !== 0 }).accountId);
    const members = await jira().client().groupMembers({ groupName: 'big-group' });
    expect(members).toHaveLength(108);
    expect(members.every((m) => m.active)).toBe(true);
    expect(sim.counters.count('getUsersFromGroup', 200)).toBe(3);
  });

  it('works through the scoped-token base URL form (/ex/jira/{cloudId})', async () => {
    const c = jira().client({ baseUrl: `${jira().sim.url}/ex/jira/11111111-2222-3333-4444-555555555555` });
    expect((await c.myself()).accountId).toBe(jira().site.admin.accountId);
  });
});

describe('Jira client: writes and their "already" outcomes', () => {
  it('createUser sends products; Jira answers an existing user with access 201 and that account, one without access (no products asked) 400 AlreadyExistsError', async () => {
    const c = jira().client();
    const u = await c.createUser({ emailAddress: 'new.person@partner.example', products: ['jira-software'] });
    expect(jira().sim.state.accounts.get(u.accountId)?.products).toEqual(['jira-software']);
    // The spec (createUser): "If the user exists and has access to Jira, the operation returns a 201 status."
    const again = await c.createUser({ emailAddress: 'New.Person@partner.example', products: ['jira-software'] });
    expect(again.accountId).toBe(u.accountId);
    expect(jira().sim.state.accountsByEmail('new.person@partner.example')).toHaveLength(1);
    // "If the user exists but does not have access to Jira, the operation returns a 400 status."
    jira().sim.state.addAccount({ email: 'no.access@partner.example', products: [] });
    const e = await failure(c.createUser({ emailAddress: 'no.access@partner.example', products: [] }));
    expect(e).toBeInstanceOf(AlreadyExistsError);
    expect(e).toBeInstanceOf(PermanentError);
  });

  it('addUserToGroup: added, then already-member, by name or id; a missing group is NotFound', async () => {
    const { site } = jira();
    const c = jira().client();
    expect(await c.addUserToGroup({ accountId: site.users.alice.accountId, groupName: 'support-customers' })).toBe('added');
    expect(await c.addUserToGroup({ accountId: site.users.alice.accountId, groupId: site.groups.customers })).toBe('already-member');
    expect(await failure(c.addUserToGroup({ accountId: site.users.alice.accountId, groupName: 'no-such-group' }))).toBeInstanceOf(NotFoundError);
  });

  it('createCustomer: created, then "exists" (409 with strictConflictStatusCode); addCustomersToServiceDesk adds', async () => {
    const c = jira().client();
    const created = await c.createCustomer({ email: 'erin@customer.example', displayName: 'Erin' });
    expect(created).toMatchObject({ accountType: 'customer', emailAddress: 'erin@customer.example' });
    expect(await c.createCustomer({ email: 'erin@customer.example', displayName: 'Erin' })).toBe('exists');
    expect(jira().sim.counters.count('createCustomer', 409)).toBe(1);
    await c.addCustomersToServiceDesk('1', [(created as { accountId: string }).accountId]);
    expect(jira().sim.state.serviceDesks.get('1')!.customers.has((created as { accountId: string }).accountId)).toBe(true);
  });

  it('issue, comment, attachment (bytes intact), properties, JQL search and JSM request', async () => {
    const { sim, site } = jira();
    const c = jira().client();
    const issue = await c.createIssue(
      { project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'Printer on fire', reporter: { id: site.users.bob.accountId } },
      { properties: [{ key: 'mailroom', value: { messageId: '<m1@partner.example>' } }] },
    );
    expect(issue.key).toBe('SUP-1');
    await c.addComment(issue.key, { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'more smoke' }] }] });
    const bytes = new Uint8Array([0, 255, 13, 10, 45, 45, 1, 2, 3]);
    const [att] = await c.addAttachment(issue.key, 'log.bin', bytes, 'application/octet-stream');
    expect(att).toMatchObject({ filename: 'log.bin', size: 9 });
    expect([...sim.state.issue(issue.key)!.attachments[0]!.bytes]).toEqual([...bytes]);
    expect(sim.state.issue(issue.key)!.comments).toHaveLength(1);

    await c.setIssueProperty(issue.key, 'ledger', { done: true });
    expect(await c.getIssueProperty(issue.key, 'ledger')).toEqual({ done: true });
    expect(await c.getIssueProperty(issue.key, 'absent')).toBeUndefined();
    expect(await failure(c.getIssueProperty('SUP-999', 'ledger'))).toBeInstanceOf(NotFoundError);

    // Jira Cloud answers a property clause with 400 unless an installed app indexed the property.
    const refused = await failure(c.searchJql('issue.property[mailroom].messageId = "<m1@partner.example>"', ['summary']));
    expect(refused).toBeInstanceOf(PermanentError);
    expect((refused as Error).message).toContain("Field 'issue.property[mailroom].messageId' does not exist or you do not have permission to view it.");
    sim.state.indexedProperties = new Set(['mailroom']);
    const found = await c.searchJql('issue.property[mailroom].messageId = "<m1@partner.example>"', ['summary']);
    expect(found).toEqual([{ id: issue.id, key: 'SUP-1', fields: { summary: 'Printer on fire' } }]);
    // What works on every site: ordinary fields, currentUser(), relative dates.
    const mine = await c.searchJql('project = SUP AND creator = currentUser() AND created >= -5m ORDER BY created ASC', ['summary']);
    expect(mine.map((i) => i.key)).toEqual(['SUP-1']);

    const req = await c.createRequest({
      serviceDeskId: '1', requestTypeId: '10', summary: 'VPN down', description: 'since 9am', raiseOnBehalfOf: site.users.customer.accountId,
    });
    expect(req.issueKey).toBe('HD-1');
    expect(sim.state.issue('HD-1')!.fields.reporter).toMatchObject({ accountId: site.users.customer.accountId });
  });

  it('searchJql follows nextPageToken across pages', async () => {
    const { sim } = jira();
    const p = sim.state.project('SUP')!;
    for (let i = 0; i < 130; i++) sim.state.createIssue(p, { summary: `n${i}` });
    const all = await jira().client().searchJql('project = SUP', ['summary'], { max: 1000 });
    expect(all).toHaveLength(130);
    expect(new Set(all.map((i) => i.key)).size).toBe(130);
    expect(sim.counters.count('searchAndReconsileIssuesUsingJqlPost', 200)).toBe(2);
  });
});

describe('Jira client: typed failures', () => {
  it('a refused token on user search (200, empty, X-Seraph-LoginReason) is AuthError, never "no such user"', async () => {
    const { sim, site } = jira();
    sim.state.revokeToken(site.admin.token);
    const c = jira().client();
    const e = await failure(c.findUsersByEmail('alice@acme.example'));
    expect(e).toBeInstanceOf(AuthError);
    expect(await failure(c.findUserByEmail('nobody@nowhere.example'))).toBeInstanceOf(AuthError);
    // The simulator really answered 200 with an empty list: the header alone made it an auth failure.
    expect(sim.counters.count('findUsers', 200)).toBe(2);
  });

  it('a refused token on mypermissions (200, all false) is AuthError; on myself it is a 401 AuthError', async () => {
    const { sim, site } = jira();
    sim.state.expireToken(site.admin.token);
    const c = jira().client();
    expect(await failure(c.myPermissions(['ADMINISTER']))).toBeInstanceOf(AuthError);
    expect(sim.counters.count('getMyPermissions', 200)).toBe(1);
    expect(await failure(c.myself())).toBeInstanceOf(AuthError);
    expect(sim.counters.count('getCurrentUser', 401)).toBe(1);
  });

  it('a token for another email, or a wrong token, is refused', async () => {
    const c1 = jira().client({ email: 'alice@acme.example' });
    expect(await failure(c1.findUsersByEmail('bob@partner.example'))).toBeInstanceOf(AuthError);
    const c2 = jira().client({ token: 'ATATT-not-a-real-token-000' });
    expect(await failure(c2.createCustomer({ email: 'x@y.example', displayName: 'X' }))).toBeInstanceOf(AuthError);
  });

  it('a token that expires mid-run turns the next call into AuthError', async () => {
    const { sim, site } = jira();
    const token = sim.state.addToken({ accountId: site.admin.accountId, expiresAfterRequests: 2 });
    const c = jira().client({ token });
    await c.myself();
    await c.findUsersByEmail('alice@acme.example');
    expect(await failure(c.findUsersByEmail('alice@acme.example'))).toBeInstanceOf(AuthError);
  });

  it('the seeded token expiring after N more requests (as a fault set mid-run) gives AuthError from then on', async () => {
    const { sim, site } = jira();
    const c = jira().client();
    await c.myself();
    sim.state.expireTokenAfter(site.admin.token, { requests: 1 });
    await c.myPermissions(['ADMINISTER']);
    expect(await failure(c.myPermissions(['ADMINISTER']))).toBeInstanceOf(AuthError);
    expect(await failure(c.groupMembers({ groupName: 'jira-software-users' }))).toBeInstanceOf(AuthError);
  });

  it('403 on creating users without site admin is a PermissionError naming what is missing, not AuthError (the token works)', async () => {
    const { sim } = jira();
    const agent = sim.state.addAccount({ email: 'agent@acme.example', permissions: ['USER_PICKER'] });
    const token = sim.state.addToken({ accountId: agent.accountId });
    const e = await failure(jira().client({ email: 'agent@acme.example', token }).createUser({ emailAddress: 'z@z.example', products: [] }));
    expect(e).toBeInstanceOf(PermissionError);
    expect(e).not.toBeInstanceOf(AuthError);
    expect((e as PermissionError).permission).toMatch(/^ADMINISTER/);
  });

  it('429 gives RateLimitedError with Retry-After (seconds) and RateLimit-Reason', async () => {
    jira().sim.faults.rateLimit({ retryAfterSec: 7, reason: 'jira-burst-based' });
    const e = await failure(jira().client().myself());
    expect(e).toBeInstanceOf(RateLimitedError);
    expect((e as RateLimitedError).retryAfterMs).toBe(7_000);
    expect((e as RateLimitedError).reason).toBe('jira-burst-based');
  });

  it('503 with Retry-After as an HTTP date gives RateLimitedError with the time left', async () => {
    jira().sim.faults.rateLimit({ status: 503, retryAfterSec: 4, asDate: true });
    const e = await failure(jira().client().myself());
    expect(e).toBeInstanceOf(RateLimitedError);
    const ms = (e as RateLimitedError).retryAfterMs;
    expect(ms).toBeGreaterThan(1_000); // 4 s rounded up to a whole second, less the trip (slow on a busy machine)
    expect(ms).toBeLessThanOrEqual(5_000);
  });

  it('5xx is RetryableError (not a rate limit)', async () => {
    jira().sim.faults.set({ errorRate: 1 });
    const e = await failure(jira().client().myself());
    expect(e).toBeInstanceOf(RetryableError);
    expect(e).not.toBeInstanceOf(RateLimitedError);
    expect(e).toBeInstanceOf(JiraServerError);
    expect(e.message).toMatch(/failed with 50[023]/);
  });

  it('a dropped connection and a refused connection are RetryableError', async () => {
    jira().sim.faults.drop(1);
    expect(await failure(jira().client().myself())).toBeInstanceOf(JiraNoAnswerError);
    const gone = await startJiraSim();
    const url = gone.url;
    await gone.close();
    const refused = await failure(jira().client({ baseUrl: url }).myself());
    expect(refused).toBeInstanceOf(JiraNoAnswerError);
    // ky 2 wraps fetch's TypeError in a NetworkError: the reason must still be the system code.
    expect(refused.message).toMatch(/ECONNREFUSED/);
  });

  it('a hung request times out as RetryableError', async () => {
    jira().sim.faults.hang(1);
    const e = await failure(jira().client({ timeoutMs: 200 }).myself());
    expect(e).toBeInstanceOf(JiraNoAnswerError);
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.message).toMatch(/timed out after 200 ms/);
  });

  it('an answer that stops half-way through its body times out as RetryableError too', async () => {
    jira().sim.faults.stall(1);
    const e = await failure(jira().client({ timeoutMs: 300 }).findUsersByEmail('alice@acme.example'));
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.message).toMatch(/timed out after 300 ms/);
  });

  it('an answer larger than 16 MiB is cut and is a JiraNoAnswerError saying what to check, with or without Content-Length', async () => {
    // A jira.site pointing at something that is not Jira, or a proxy's endless page: not held in memory.
    const big = 17 * 1024 * 1024; // the cap (MAX_ANSWER_BYTES, src/jira/core.ts) is 16 MiB
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const server = createServer((req, res) => {
      const declared = req.url?.includes('/user/search') ?? false;
      res.writeHead(200, { 'content-type': 'application/json', ...(declared ? { 'content-length': String(big) } : {}) });
      let sent = 0;
      const more = (): void => {
        while (sent < big) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      res.write('[');
      more();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const seen: { status: number; error?: string }[] = [];
      const c = jira().client({ baseUrl: url, onResponse: (i) => seen.push(i) });
      for (const call of [() => c.findUsersByEmail('bob@partner.example'), () => c.myself()]) {
        const e = await failure(call());
        expect(e).toBeInstanceOf(JiraNoAnswerError);
        expect(e.message).toMatch(/with more than 16 MiB: not read.*check that jira\.site/);
      }
      expect(seen.map((s) => s.error)).toEqual([expect.stringMatching(/answer over/), expect.stringMatching(/answer over/)]);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('other 4xx are PermanentError carrying Jira\'s words (platform errors and JSM errorMessage)', async () => {
    const c = jira().client();
    const e1 = await failure(c.createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' } }));
    expect(e1).toBeInstanceOf(PermanentError);
    expect(e1.message).toContain('You must specify a summary of the issue.');
    const e2 = await failure(c.createRequest({ serviceDeskId: '99', requestTypeId: '10', summary: 's', description: 'd', raiseOnBehalfOf: 'x' }));
    expect(e2).toBeInstanceOf(PermanentError);
    expect(e2.message).toContain("The service desk '99' does not exist.");
    expect(await failure(c.getIssue('SUP-404'))).toBeInstanceOf(NotFoundError);
  });

  it("an issue at Jira Cloud's per-issue limits: a comment is an IssueLimitError (413), an upload a PermanentError (413), other issues take both", async () => {
    const { sim } = jira();
    const c = jira().client();
    sim.state.issueLimits = { comments: 1, attachments: 1 };
    const doc = { type: 'doc' as const, version: 1 as const, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'x' }] }] };
    const full = await c.createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'Full' });
    await c.addComment(full.key, doc);
    await c.addAttachment(full.key, 'a.txt', new Uint8Array([1]), 'text/plain');
    const e = await failure(c.addComment(full.key, doc));
    expect(e).toBeInstanceOf(IssueLimitError);
    expect(e.message).toMatch(/per-issue limit of comments.*\(413\)/);
    const up = await failure(c.addAttachment(full.key, 'b.txt', new Uint8Array([2]), 'text/plain'));
    expect(up).toBeInstanceOf(PermanentError);
    expect(up).not.toBeInstanceOf(IssueLimitError);
    expect(up.message).toContain('(413)');
    expect(sim.state.issue(full.key)!.comments).toHaveLength(1);
    expect(sim.state.issue(full.key)!.attachments).toHaveLength(1);
    const other = await c.createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'Other' });
    await c.addComment(other.key, doc);
  });

  it('a JSM request raised on behalf of a customer needs agent access (403, a PermissionError, not AuthError); without Create issues none at all', async () => {
    const { sim, site } = jira();
    const customer = sim.state.addAccount({ email: 'cust@partner.example', displayName: 'Cust', accountType: 'customer' });
    sim.state.serviceDesks.get('1')!.customers.add(customer.accountId);
    const admin = sim.state.accounts.get(site.admin.accountId)!;
    admin.siteAdmin = false;
    admin.permissions = new Set(GLOBAL_PERMISSIONS);
    admin.projectPermissions = new Map([['HD', new Set(PROJECT_PERMISSIONS.filter((p) => p !== 'SERVICEDESK_AGENT'))]]);
    const input = { serviceDeskId: '1', requestTypeId: '10', summary: 's', description: 'd', raiseOnBehalfOf: customer.accountId };
    const e = await failure(jira().client().createRequest(input));
    expect(e).toBeInstanceOf(PermissionError);
    expect(e.message).toMatch(/\(403\).*only agents of the service desk can/);
    // Its own request (no one else named) an agent-less account with Create issues may raise.
    await jira().client().createRequest({ ...input, raiseOnBehalfOf: admin.accountId });
    admin.projectPermissions = new Map([['HD', new Set(['BROWSE_PROJECTS'])]]);
    expect(await failure(jira().client().createRequest({ ...input, raiseOnBehalfOf: admin.accountId }))).toBeInstanceOf(PermissionError);
  });

  it('reports each call to onResponse (status 0 when no answer came)', async () => {
    const seen: { operation: string; status: number }[] = [];
    const c = jira().client({ onResponse: ({ operation, status }) => seen.push({ operation, status }) });
    await c.myself();
    jira().sim.faults.drop(1);
    await failure(c.findUsersByEmail('a@b.example'));
    expect(seen).toEqual([{ operation: 'getCurrentUser', status: 200 }, { operation: 'findUsers', status: 0 }]);
  });

  it('the token never appears in error text, stacks, serialized errors or log lines', async () => {
    const { sim, site } = jira();
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } }),
    });
    const c = jira().client({ logger, timeoutMs: 200 });
    const errors: Error[] = [];
    sim.faults.hang(1);
    errors.push(await failure(c.myself()));
    sim.faults.drop(1);
    errors.push(await failure(c.myself()));
    sim.faults.rateLimit({});
    errors.push(await failure(c.myself()));
    errors.push(await failure(c.createIssue({})));
    sim.state.revokeToken(site.admin.token);
    errors.push(await failure(c.findUsersByEmail('alice@acme.example')));
    errors.push(await failure(c.myself()));
    logger.info({ err: errors[0] }, 'done');
    await new Promise((r) => setTimeout(r, 50));
    const basic = Buffer.from(`${site.admin.email}:${site.admin.token}`).toString('base64');
    const text = [
      ...errors.map((e) => `${e.message}\n${e.stack}\n${JSON.stringify(e)}\n${String((e as { cause?: unknown }).cause)}`),
      ...lines,
    ].join('\n');
    expect(errors.map((e) => e.constructor.name)).toEqual(['JiraNoAnswerError', 'JiraNoAnswerError', 'RateLimitedError', 'PermanentError', 'AuthError', 'AuthError']);
    expect(errors.every((e) => (e as { cause?: unknown }).cause === undefined)).toBe(true);
    expect(lines.length).toBeGreaterThan(3);
    expect(text).not.toContain(site.admin.token);
    expect(text).not.toContain(basic);
  });
});
