// An agent's comment is mailed to an issue's email-only participants only when the issue is in
// the project its mailbox delivers to: the `mailroom.message` property can be written by anyone
// who may edit issues, and an issue Mailroom made can be moved to an internal project.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAdmin } from '../../src/jira-sim/seed.js';
import { MESSAGE_PROPERTY } from '../../src/deliver/delivery.js';
import { commentMailFor } from '../../src/respond/comment.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { testMailbox } from '../helpers/sim-run.js';

let jira: SeededSim;
beforeAll(async () => {
  jira = await startSeededSim();
  jira.sim.state.addProject({ key: 'OPS', name: 'Internal operations' });
});
afterAll(async () => jira?.close());

const mailbox = testMailbox({ id: 'support', addresses: ['support@acme.example'], deliver: { project: 'SUP', issueType: 'Task' }, respond: { comments: true } });
const doc = (text: string) => ({ type: 'doc' as const, version: 1 as const, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });

/** An issue in `project` whose property names the support mailbox and an outsider, with a public comment by an agent. */
async function commented(project: string): Promise<{ key: string; comment: string }> {
  const admin = jira.client();
  const agent = addAdmin(jira.sim.state, { email: `agent-${project.toLowerCase()}@acme.example` });
  const agentClient = jira.client({ email: agent.account.email, token: agent.token });
  const issue = await admin.createIssue({ project: { key: project }, issuetype: { name: 'Task' }, summary: 'Printer' }, {
    properties: [{ key: MESSAGE_PROPERTY, value: { id: 'm1@customer.example', mailboxId: 'support', mailOnly: ['outsider@elsewhere.example'], complete: true } }],
  });
  const c = await agentClient.addComment(issue.key, doc('We are on it.'));
  return { key: issue.key, comment: c.id };
}

describe('comments mailed to email-only participants', () => {
  it('go out for an issue in the mailbox\'s own project', async () => {
    const { key, comment } = await commented('SUP');
    const r = await commentMailFor(jira.client(), key, comment, (id) => (id === 'support' ? mailbox : undefined));
    expect(r).toMatchObject({ to: ['outsider@elsewhere.example'] });
  });

  it('do not for an issue in another project carrying the same property (written by someone, or moved there)', async () => {
    const { key, comment } = await commented('OPS');
    const r = await commentMailFor(jira.client(), key, comment, (id) => (id === 'support' ? mailbox : undefined));
    expect(r).toMatchObject({ why: expect.stringMatching(/is in project OPS, not SUP/) });
  });
});
