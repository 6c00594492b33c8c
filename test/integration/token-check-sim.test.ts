// `token check` against the project's own simulator, through the real client: every
// requirement of the demo site's policies comes back held or missing, never "could not check",
// and the service-desk administrator question is asked for that desk's project.
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../src/config/schema.js';
import { GLOBAL_PERMISSIONS } from '../../src/jira-sim/index.js';
import { checkToken, formatReport } from '../../src/token/check.js';
import { withSim } from '../helpers/jira-sim.js';

const jira = withSim({ record: true });
const mailbox = (id: string, policy: Record<string, unknown>) => ({ id, policy: policySchema.parse(policy) });
const policies = [
  mailbox('support', { autoCreate: 'user', groups: ['jira-software-users'] }),
  mailbox('helpdesk', { autoCreate: 'customer', serviceDeskId: '1' }),
];

describe('token check on the simulator', () => {
  it('the demo admin holds everything; nothing is left unchecked', async () => {
    const r = await checkToken(jira().client(), policies);
    expect(r.unchecked).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.requirements.map((x) => [x.permission, x.held])).toEqual([
      ['USER_PICKER', true],
      ['ADMINISTER', true],
      ['SITE_ADMIN', true],
      ['ADMINISTER_PROJECTS', true],
    ]);
    expect(formatReport(r).join('\n')).toMatch(/result:\s+ok$/);
    // Asked with the desk's project as context (spec: projectId wins over projectKey).
    const asked = jira().sim.exchanges.filter((e) => e.path === '/rest/api/3/mypermissions' && e.query.get('permissions') === 'ADMINISTER_PROJECTS');
    expect(asked.map((e) => e.query.get('projectId'))).toEqual([jira().sim.state.project('HD')!.id]);
  });

  it('an account that administers another project, not the desk\'s, and is no site admin: both reported missing', async () => {
    const { sim } = jira();
    const a = sim.state.addAccount({
      email: 'half-admin@acme.example',
      permissions: GLOBAL_PERMISSIONS.filter((p) => p !== 'SYSTEM_ADMIN'),
      projectPermissions: { SUP: ['ADMINISTER_PROJECTS', 'BROWSE_PROJECTS'], HD: ['BROWSE_PROJECTS'] },
    });
    const token = sim.state.addToken({ accountId: a.accountId });
    const r = await checkToken(jira().client({ email: 'half-admin@acme.example', token }), policies);
    expect(r.unchecked).toEqual([]);
    expect(r.missing.map((m) => m.permission)).toEqual(['SITE_ADMIN', 'ADMINISTER_PROJECTS']);
    expect(r.ok).toBe(false);
  });
});
