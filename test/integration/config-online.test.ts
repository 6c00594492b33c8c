// `config check --online` against the simulator over HTTP: every project, issue type, group,
// service desk, request type and permission the configuration names is found (or reported
// missing under its key path), and the run-time "Specified group does not exist." names the group.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { NotFoundError } from '../../src/core/errors.js';
import { checkConfigOnline, JiraUnreachableError, type Finding } from '../../src/ops/config-online.js';
import { withSim } from '../helpers/jira-sim.js';

const jira = withSim();

function configWith(mailboxes: unknown[], notifications?: unknown) {
  return parseConfig({ jira: { site: jira().sim.url }, mailboxes, ...(notifications ? { notifications } : {}) }, {});
}

const byPath = (findings: Finding[]) => Object.fromEntries(findings.map((f) => [f.path, f]));

describe('config check --online', () => {
  it('finds everything a correct configuration names', async () => {
    const c = configWith(
      [
        { id: 'support', deliver: { project: 'SUP', issueType: 'Bug' }, policy: { autoCreate: 'user', groups: ['support-customers', { groupId: jira().site.groups.software }] } },
        { id: 'helpdesk', deliver: { serviceDeskId: '1', requestTypeId: '10', project: 'HD' }, policy: { autoCreate: 'customer', serviceDeskId: '1' } },
      ],
      { rules: [{ project: 'SUP', events: ['issue_created'], groups: ['jira-software-users'] }] },
    );
    const r = await checkConfigOnline(jira().client(), c);
    expect(r.findings.filter((f) => f.level === 'error')).toEqual([]);
    expect(r.ok).toBe(true);
    const f = byPath(r.findings);
    for (const path of [
      'mailboxes[0].deliver.project',
      'mailboxes[0].deliver.issueType',
      'mailboxes[0].policy.groups[0]',
      'mailboxes[0].policy.groups[1]',
      'mailboxes[1].deliver.serviceDeskId',
      'mailboxes[1].deliver.requestTypeId',
      'mailboxes[1].deliver.project',
      'mailboxes[1].policy.serviceDeskId',
      'notifications.rules[0].project',
      'notifications.rules[0].groups[0]',
      'mailboxes[0].policy.autoCreate',
      'token',
    ]) {
      expect(f[path], path).toMatchObject({ ok: true });
    }
  });

  it('names each missing thing under its key path', async () => {
    const c = configWith(
      [
        { id: 'support', deliver: { project: 'NOPE', issueType: 'Task' }, policy: { autoCreate: 'user', groups: ['support-customers', 'no-such-group'] } },
        { id: 'sales', deliver: { project: 'SUP', issueType: 'Epic' } },
        { id: 'helpdesk', deliver: { serviceDeskId: '1', requestTypeId: '99', project: 'SUP' }, policy: { autoCreate: 'customer', serviceDeskId: '7' } },
      ],
      { rules: [{ project: 'ZZZ', events: ['issue_created'], groups: ['ghosts'] }] },
    );
    const r = await checkConfigOnline(jira().client(), c);
    expect(r.ok).toBe(false);
    const errors = Object.fromEntries(r.findings.filter((x) => x.level === 'error').map((x) => [x.path, x.detail]));
    expect(errors).toEqual({
      'mailboxes[0].deliver.project': expect.stringContaining('project NOPE does not exist'),
      'mailboxes[0].policy.groups[1]': 'group "no-such-group" does not exist',
      'mailboxes[1].deliver.issueType': expect.stringMatching(/project SUP has no issue type "Epic" \(it has: Task, Bug, Story\)/),
      'mailboxes[2].deliver.requestTypeId': expect.stringContaining('request type 99'),
      'mailboxes[2].deliver.project': 'service desk 1 is project HD, not SUP',
      'mailboxes[2].policy.serviceDeskId': expect.stringContaining('service desk 7'),
      'notifications.rules[0].project': expect.stringContaining('project ZZZ'),
      'notifications.rules[0].groups[0]': 'group "ghosts" does not exist',
    });
    expect(byPath(r.findings)['mailboxes[0].policy.groups[0]']).toMatchObject({ ok: true });
  });

  it("names a permission the token lacks under the settings that need it", async () => {
    const alice = jira().site.users.alice;
    const token = jira().sim.state.addToken({ accountId: alice.accountId });
    const c = configWith([
      { id: 'support', policy: { autoCreate: 'user', groups: ['support-customers'] } },
      { id: 'sales' },
    ]);
    const r = await checkConfigOnline(jira().client({ email: alice.email!, token }), c);
    expect(r.ok).toBe(false);
    const f = byPath(r.findings);
    expect(f['mailboxes[0].policy.autoCreate']).toMatchObject({ level: 'error', detail: expect.stringContaining('Administer Jira') });
    expect(f['mailboxes[0].policy.groups']).toMatchObject({ level: 'error', detail: expect.stringContaining('Site administration') });
    expect(f.token).toMatchObject({ ok: true, detail: expect.stringContaining('Browse users and groups') });
  });

  it('asks each configured project for what delivery needs: a missing Edit issues or Modify reporter is named with its project under the key that points there; the other project is fine', async () => {
    const { sim } = jira();
    sim.state.addProject({ key: 'OPS', name: 'Operations' });
    const bot = sim.state.addAccount({
      email: 'scoped-bot@acme.example',
      permissions: ['USER_PICKER'],
      projectPermissions: {
        SUP: ['BROWSE_PROJECTS', 'CREATE_ISSUES', 'EDIT_ISSUES', 'ADD_COMMENTS', 'MODIFY_REPORTER', 'CREATE_ATTACHMENTS'],
        OPS: ['BROWSE_PROJECTS', 'CREATE_ISSUES', 'ADD_COMMENTS', 'CREATE_ATTACHMENTS'],
      },
    });
    const token = sim.state.addToken({ accountId: bot.accountId });
    const c = configWith([
      { id: 'support', deliver: { project: 'SUP', issueType: 'Task' } },
      { id: 'ops', deliver: { project: 'OPS', issueType: 'Task' } },
    ]);
    const r = await checkConfigOnline(jira().client({ email: bot.email!, token }), c);
    expect(r.ok).toBe(false);
    const at = (path: string, level: string) => r.findings.filter((x) => x.path === path && x.level === level).map((x) => x.detail);
    expect(at('mailboxes[1].deliver.project', 'error')).toEqual([expect.stringMatching(/^EDIT_ISSUES is not held in project OPS/)]);
    expect(at('mailboxes[1].deliver.project', 'warning')).toEqual([expect.stringMatching(/^MODIFY_REPORTER is not held in project OPS: issues will be reported by the workaround user/)]);
    expect(at('mailboxes[0].deliver.project', 'error')).toEqual([]);
    expect(at('mailboxes[0].deliver.project', 'warning')).toEqual([]);
    expect(at('mailboxes[0].deliver.project', 'ok').join(' ')).toMatch(/held BROWSE_PROJECTS, CREATE_ISSUES, EDIT_ISSUES, ADD_COMMENTS, MODIFY_REPORTER, CREATE_ATTACHMENTS/);
    // The same report as `token check` and the periodic check print and store it.
    expect(r.token.projects.find((p) => p.project === 'OPS')).toMatchObject({ missing: ['EDIT_ISSUES'], degraded: ['MODIFY_REPORTER'] });
    expect(r.token.projectMissing).toEqual([expect.stringContaining('EDIT_ISSUES is not held in project OPS (mailboxes[1].deliver.project, mailbox "ops")')]);
  });

  it('a service desk is asked about with its project as context, agent rights included', async () => {
    const c = configWith([{ id: 'helpdesk', deliver: { serviceDeskId: '1', requestTypeId: '10', project: 'HD' } }]);
    const r = await checkConfigOnline(jira().client(), c);
    expect(r.token.projects).toEqual([expect.objectContaining({ project: 'HD', configKey: 'mailboxes[0].deliver.serviceDeskId', missing: [], degraded: [] })]);
    expect(r.token.projects[0]!.held.SERVICEDESK_AGENT).toBe(true);
  });

  it('says Jira did not answer rather than calling things missing', async () => {
    const c = configWith([{ id: 'support', deliver: { project: 'SUP', issueType: 'Task' } }]);
    const dead = jira().client({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 2000 });
    await expect(checkConfigOnline(dead, c)).rejects.toBeInstanceOf(JiraUnreachableError);
  });

  it("at run time, a missing group is named instead of Jira's bare 'Specified group does not exist.'", async () => {
    const client = jira().client();
    const bob = jira().site.users.bob;
    const add = client.addUserToGroup({ accountId: bob.accountId, groupName: 'no-such-group' });
    await expect(add).rejects.toBeInstanceOf(NotFoundError);
    await expect(add).rejects.toThrow(/Jira group "no-such-group" does not exist \(addUserToGroup: Specified group does not exist\.\)/);
    await expect(client.groupMembers({ groupName: 'ghosts' })).rejects.toThrow(/Jira group "ghosts" does not exist/);
    expect(await client.groupExists({ groupName: 'support-customers' })).toBe(true);
    expect(await client.groupExists({ groupName: 'no-such-group' })).toBe(false);
  });
});
