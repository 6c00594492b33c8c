// A small believable site for demos and tests: the workaround admin with a token, a few
// people (one with a hidden email, one deactivated), the usual groups, project SUP and
// service desk 1 (project HD) with request type 10.
import type { JiraSim } from './server.js';
import { GLOBAL_PERMISSIONS, PROJECT_PERMISSIONS, type SimAccount, type SimState } from './state.js';

export interface SeededSite {
  admin: { email: string; token: string; accountId: string };
  users: Record<'alice' | 'bob' | 'hidden' | 'former' | 'customer', SimAccount>;
  groups: { customers: string; software: string };
  project: string;
  serviceDesk: { id: string; projectKey: string; requestTypeId: string };
}

/** An account holding every global and project permission, with an API token. */
export function addAdmin(state: SimState, opts: { email: string; displayName?: string; token?: string; siteAdmin?: boolean }): { account: SimAccount; token: string } {
  const account = state.addAccount({
    email: opts.email,
    displayName: opts.displayName ?? 'Mailroom Workaround',
    permissions: [...GLOBAL_PERMISSIONS, ...PROJECT_PERMISSIONS],
    siteAdmin: opts.siteAdmin ?? true,
    products: ['jira-software', 'jira-servicedesk'],
  });
  const token = state.addToken({ accountId: account.accountId, ...(opts.token ? { token: opts.token } : {}) });
  return { account, token };
}

export function seedDemo(sim: Pick<JiraSim, 'state'>): SeededSite {
  const { state } = sim;
  const { account, token } = addAdmin(state, { email: 'mailroom-bot@acme.example', displayName: 'Mailroom (workaround user)' });
  const alice = state.addAccount({ email: 'alice@acme.example', displayName: 'Alice Agent', permissions: ['USER_PICKER', ...PROJECT_PERMISSIONS], products: ['jira-software'] });
  const bob = state.addAccount({ email: 'bob@partner.example', displayName: 'Bob Builder', products: ['jira-software'] });
  const hidden = state.addAccount({ email: 'quiet@partner.example', displayName: 'Quinn Quiet', emailHidden: true, products: ['jira-software'] });
  const former = state.addAccount({ email: 'former@acme.example', displayName: 'Fiona Former', active: false });
  const customer = state.addAccount({ email: 'carol@customer.example', displayName: 'Carol Customer', accountType: 'customer' });
  const customers = state.addGroup({ name: 'support-customers' });
  const software = state.addGroup({ name: 'jira-software-users' });
  for (const a of [account, alice, bob, hidden, former]) software.members.add(a.accountId);
  customers.members.add(bob.accountId);
  state.addProject({ key: 'SUP', name: 'Support' });
  const desk = state.addServiceDesk({ id: '1', projectKey: 'HD', projectName: 'Help Desk', requestTypes: [{ id: '10', name: 'Email request' }] });
  desk.customers.add(customer.accountId);
  // As the set-up guide asks (docs/jira-permissions.md): the workaround user is in the role
  // bounce notes are restricted to (respond.noteRole, Administrators by default).
  // Alice, the agent, too: the demo's agent restricts an internal note to Administrators.
  for (const key of ['SUP', 'HD']) for (const a of [account, alice]) state.addToRole(key, 'Administrators', a.accountId);
  state.addToRole('HD', 'Service Desk Team', account.accountId);
  return {
    admin: { email: 'mailroom-bot@acme.example', token, accountId: account.accountId },
    users: { alice, bob, hidden, former, customer },
    groups: { customers: customers.groupId, software: software.groupId },
    project: 'SUP',
    serviceDesk: { id: desk.id, projectKey: 'HD', requestTypeId: '10' },
  };
}
