// Contract: every request the client sends and every response the simulator returns, held
// against Atlassian's OpenAPI specs (../shared/specs). Skipped with a notice when absent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JiraClient } from '../../src/jira/index.js';
import { contractProblems, contractValidator } from '../helpers/openapi.js';
import { specsDir, notice } from '../helpers/corpus.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';

const haveSpecs = !!specsDir();
if (!haveSpecs) notice('the Jira OpenAPI specs (../shared/specs or MAILROOM_SPECS_DIR) are absent: Jira contract tests are skipped.');

/** Every operation the client uses, by the spec's operationId. */
const CLIENT_OPERATIONS = [
  'findUsers', 'getCurrentUser', 'getMyPermissions', 'createUser', 'addUserToGroup', 'getUsersFromGroup',
  'createCustomer', 'addCustomers', 'createIssue', 'getIssue', 'addComment', 'addAttachment',
  'setIssueProperty', 'getIssueProperty', 'searchAndReconsileIssuesUsingJqlPost', 'createCustomerRequest',
  'getProject', 'getServiceDeskById', 'getRequestTypeById',
];

async function settle(p: Promise<unknown>): Promise<void> {
  await p.catch(() => undefined);
}

/** Drive every client method through its success and its usual failure answers. */
async function exercise(s: SeededSim, c: JiraClient): Promise<void> {
  const { site } = s;
  // Schemas, not timing: a new account is a group member at once here (jira-permissions.md has the propagation delay).
  s.sim.state.userPropagationMs = 0;
  await c.findUsersByEmail('alice@acme.example');
  await c.findUsersByEmail('quiet@partner.example');
  await c.findUserByEmail('nobody@nowhere.example');
  await c.myself();
  await c.myPermissions(['ADMINISTER', 'USER_PICKER', 'BROWSE_PROJECTS']);
  const u = await c.createUser({ emailAddress: 'contract@partner.example', displayName: 'Contract Person', products: ['jira-software'] });
  await settle(c.createUser({ emailAddress: 'contract@partner.example', products: ['jira-software'] }));
  await settle(c.createUser({ emailAddress: 'bad@partner.example', products: ['not-a-product'] }));
  await c.addUserToGroup({ accountId: u.accountId, groupName: 'jira-software-users' });
  await c.addUserToGroup({ accountId: u.accountId, groupId: site.groups.software });
  await settle(c.addUserToGroup({ accountId: u.accountId, groupName: 'missing-group' }));
  await c.groupMembers({ groupName: 'jira-software-users' });
  await c.groupMembers({ groupId: site.groups.customers });
  await settle(c.groupMembers({ groupName: 'missing-group' }));
  const cust = await c.createCustomer({ email: 'contract@customer.example', displayName: 'Contract Customer' });
  await c.createCustomer({ email: 'contract@customer.example', displayName: 'Contract Customer' });
  await c.addCustomersToServiceDesk('1', [(cust as { accountId: string }).accountId]);
  await settle(c.addCustomersToServiceDesk('1', ['no-such-account']));
  await settle(c.addCustomersToServiceDesk('77', [site.users.customer.accountId]));
  const issue = await c.createIssue(
    {
      project: { key: 'SUP' },
      issuetype: { name: 'Task' },
      summary: 'Contract issue',
      description: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'body' }] }] },
      reporter: { id: site.users.bob.accountId },
      labels: ['mailroom'],
    },
    { properties: [{ key: 'mailroom', value: { messageId: '<c1@partner.example>' } }] },
  );
  await settle(c.createIssue({ project: { key: 'NOPE' }, summary: '' }));
  await c.getIssue(issue.key, ['summary', 'reporter']);
  await settle(c.getIssue('SUP-999'));
  await c.addComment(issue.key, { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'a comment' }] }] });
  await settle(c.addComment('SUP-999', { type: 'doc', version: 1, content: [] }));
  await c.addAttachment(issue.key, 'report.pdf', new Uint8Array([37, 80, 68, 70]), 'application/pdf');
  await c.setIssueProperty(issue.key, 'ledger', { messageIds: ['<c1@partner.example>'] });
  await c.setIssueProperty(issue.key, 'ledger', { messageIds: ['<c1@partner.example>', '<c2@partner.example>'] });
  await c.getIssueProperty(issue.key, 'ledger');
  await c.getIssueProperty(issue.key, 'absent');
  await settle(c.searchJql('issue.property[mailroom].messageId = "<c1@partner.example>"', ['summary', 'status']));
  await c.searchJql('project = SUP AND reporter = currentUser() AND created >= -15m ORDER BY created ASC', ['summary', 'created']);
  await c.searchJql('project = SUP ORDER BY created DESC', ['summary'], { max: 5 });
  await settle(c.searchJql('assignee = nobody', ['summary']));
  await c.createRequest({
    serviceDeskId: '1', requestTypeId: '10', summary: 'Contract request', description: 'plain text',
    raiseOnBehalfOf: site.users.customer.accountId, requestParticipants: [site.users.bob.accountId],
  });
  await settle(c.createRequest({ serviceDeskId: '1', requestTypeId: '99', summary: 'x', description: 'y', raiseOnBehalfOf: site.users.customer.accountId }));
  // What `config check --online` reads.
  await c.getProject('SUP');
  await settle(c.getProject('NOPE'));
  await c.groupExists({ groupName: 'support-customers' });
  await c.groupExists({ groupName: 'missing-group' });
  await c.getServiceDesk('1');
  await settle(c.getServiceDesk('77'));
  await c.getRequestType('1', '10');
  await settle(c.getRequestType('1', '99'));
}

describe.skipIf(!haveSpecs)('Jira contract: client requests and simulator responses against the OpenAPI specs', () => {
  let s: SeededSim;
  beforeAll(async () => {
    s = await startSeededSim({ record: true });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('everything exchanged with a working token conforms', async () => {
    s.reseed();
    await exercise(s, s.client());
    const ops = new Set(s.sim.exchanges.map((e) => `${e.method} ${e.path}`));
    expect(ops.size).toBeGreaterThan(10);
    const seenOps = Object.keys(s.sim.counters.snapshot().requests).map((k) => k.split(' ')[0]);
    for (const op of CLIENT_OPERATIONS) expect(seenOps, `client operation ${op} was exercised`).toContain(op);
    expect(s.sim.exchanges.some((e) => e.status !== undefined && e.status >= 400), 'error answers were exercised too').toBe(true);
    expect(await contractProblems(s.sim.exchanges)).toEqual([]);
    expect(s.sim.counters.violations('schema')).toBe(0);
    expect(s.sim.counters.simProblems).toEqual([]);
  });

  it('everything exchanged with a refused token conforms too (anonymous answers, 401s)', async () => {
    s.reseed();
    s.sim.state.revokeToken(s.site.admin.token);
    const c = s.client();
    const adf = { type: 'doc' as const, version: 1 as const, content: [] };
    const calls: (() => Promise<unknown>)[] = [
      () => c.findUsersByEmail('alice@acme.example'),
      () => c.myself(),
      () => c.myPermissions(['ADMINISTER']),
      () => c.createUser({ emailAddress: 'x@y.example', products: [] }),
      () => c.addUserToGroup({ accountId: 'x', groupName: 'jira-software-users' }),
      () => c.groupMembers({ groupName: 'jira-software-users' }),
      () => c.createCustomer({ email: 'a@b.example', displayName: 'A' }),
      () => c.addCustomersToServiceDesk('1', ['x']),
      () => c.createIssue({ summary: 'x' }),
      () => c.getIssue('SUP-1'),
      () => c.addComment('SUP-1', adf),
      () => c.addAttachment('SUP-1', 'a.txt', new Uint8Array([1]), 'text/plain'),
      () => c.setIssueProperty('SUP-1', 'k', 1),
      () => c.getIssueProperty('SUP-1', 'k'),
      () => c.searchJql('project = SUP', ['summary']),
      () => c.createRequest({ serviceDeskId: '1', requestTypeId: '10', summary: 's', description: 'd', raiseOnBehalfOf: 'x' }),
    ];
    for (const call of calls) await settle(call());
    expect(s.sim.exchanges).toHaveLength(calls.length); // one request each: the refusal stops paging too
    expect(s.sim.exchanges.filter((e) => e.status === 401).length).toBeGreaterThan(10);
    expect(s.sim.exchanges.filter((e) => e.status === 200).map((e) => e.path).sort()).toEqual(['/rest/api/3/mypermissions', '/rest/api/3/user/search']);
    expect(await contractProblems(s.sim.exchanges)).toEqual([]);
  });

  it('the checker is not vacuous: it flags a request and a response that break the spec', async () => {
    const v = (await contractValidator())!;
    const bad = await contractProblems([
      { method: 'POST', path: '/rest/api/3/user', query: new URLSearchParams(), contentType: 'application/json', body: { emailAddress: 'x@y.example' }, status: 201, responseBody: { accountId: 'x', surprise: true } },
      { method: 'GET', path: '/rest/api/3/group/member', query: new URLSearchParams('groupname=g&startAt=first'), status: 200, responseBody: { values: [{ accountId: 1 }] } },
    ]);
    expect(bad.join('\n')).toMatch(/required property 'products'/);
    expect(bad.join('\n')).toMatch(/additional properties/);
    expect(bad.join('\n')).toMatch(/"startAt"/);
    expect(bad.join('\n')).toMatch(/accountId must be string/);
    expect(v.find('GET', '/rest/servicedeskapi/servicedesk/1/customer')?.experimental).toBe(true);
  });
});
