// An agent's comment is mailed to an issue's email-only participants only when the issue is in
// the project its mailbox delivers to: the `mailroom.message` property can be written by anyone
// who may edit issues, and an issue Mailroom made can be moved to an internal project.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAdmin } from '../../src/jira-sim/seed.js';
import { MESSAGE_PROPERTY } from '../../src/deliver/delivery.js';
import { commentMailFor, mailKeyOfProperty } from '../../src/respond/comment.js';
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
async function commented(project: string, mailOnly: unknown[] = ['outsider@elsewhere.example'], body: object = doc('We are on it.')): Promise<{ key: string; comment: string }> {
  const admin = jira.client();
  const agent = addAdmin(jira.sim.state, { email: `agent-${project.toLowerCase()}@acme.example` });
  const agentClient = jira.client({ email: agent.account.email, token: agent.token });
  const issue = await admin.createIssue({ project: { key: project }, issuetype: { name: 'Task' }, summary: 'Printer' }, {
    properties: [{ key: MESSAGE_PROPERTY, value: { id: 'm1@customer.example', mailboxId: 'support', mailOnly, complete: true } }],
  });
  const c = await agentClient.addComment(issue.key, body as ReturnType<typeof doc>);
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

  it('are never Mailroom\'s own, also after the token moved to another account (token rotate --email)', async () => {
    const { key, comment } = await commented('SUP', ['nora@customer.example']);
    const before = jira.client();
    expect(await commentMailFor(before, key, comment, (id) => (id === 'support' ? mailbox : undefined))).toMatchObject({ to: ['nora@customer.example'] });
    // A new workaround user; through it Mailroom turns a customer's reply into a comment.
    const next = addAdmin(jira.sim.state, { email: 'mailroom-2@acme.example' });
    const after = jira.client({ email: next.account.email, token: next.token });
    const made = await after.addComment(key, doc('Nora New wrote by mail: thanks, it works.'));
    expect(await commentMailFor(after, key, made.id, (id) => (id === 'support' ? mailbox : undefined))).toEqual({ why: 'Mailroom\'s own comment (a customer\'s mail): never mailed back' });
  });

  it('go only to entries of the property that are one plain address: a list, an injected header, a display name or our own address is not mailed', async () => {
    // To nodemailer (the SMTP library) the first is two recipients and the second is only hidden@…
    const hostile = ['first@customer.example, second@elsewhere.example', 'x@customer.example\r\nBcc: hidden@elsewhere.example', '"Eve" <eve@elsewhere.example>', 'support@acme.example', 'noreply@customer.example', 42];
    const { key, comment } = await commented('SUP', [...hostile, 'Nora@Customer.example', 'nora@customer.example']);
    const r = await commentMailFor(jira.client(), key, comment, (id) => (id === 'support' ? mailbox : undefined));
    expect(r).toMatchObject({ to: ['nora@customer.example'], dropped: hostile.length });

    const none = await commented('SUP', hostile);
    const r2 = await commentMailFor(jira.client(), none.key, none.comment, (id) => (id === 'support' ? mailbox : undefined));
    expect(r2).toEqual({ why: `${none.key} has no email-only participants (6 entries of its mailroom.message property not one plain address Mailroom may mail)` });
  });

  it('thread on the issue\'s first mail only when the property names one Mailroom could have written', async () => {
    const mailed = async (id: unknown) => {
      const issue = await jira.client().createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'Printer' }, {
        properties: [{ key: MESSAGE_PROPERTY, value: { id, mailboxId: 'support', mailOnly: ['nora@customer.example'], complete: true } }],
      });
      const agent = addAdmin(jira.sim.state, { email: `agent-${issue.key.toLowerCase()}@acme.example` });
      const c = await jira.client({ email: agent.account.email, token: agent.token }).addComment(issue.key, doc('Done.'));
      const r = await commentMailFor(jira.client(), issue.key, c.id, (x) => (x === 'support' ? mailbox : undefined));
      if ('why' in r) throw new Error(r.why);
      const m = r.message('{test}', 'acme.example');
      return { inReplyTo: m.inReplyTo, references: m.references, mail: r.mail };
    };
    expect(await mailed('m1@customer.example')).toEqual({ inReplyTo: '<m1@customer.example>', references: ['<m1@customer.example>'], mail: 'm1@customer.example' });
    expect(await mailed(`m1@customer.example#sha256:${'a'.repeat(64)}`)).toMatchObject({ inReplyTo: '<m1@customer.example>' });
    // Written by someone who may edit the issue: a header line of its own, a 30,000-character id.
    for (const id of ['m1@customer.example>\r\nBcc: <hidden@elsewhere.example', 'x'.repeat(30_000), 'a b@c', 42]) {
      expect(await mailed(id)).toEqual({ inReplyTo: undefined, references: [], mail: undefined });
    }
    expect(mailKeyOfProperty('m1@customer.example')).toBe('m1@customer.example');
  });

  it('carry everything the agent wrote in Jira\'s editor: lists, a pasted link (inlineCard), a mention, a quote, a panel, a table', async () => {
    const p = (...content: unknown[]) => ({ type: 'paragraph', content });
    const t = (text: string) => ({ type: 'text', text });
    const cell = (type: string, text: string) => ({ type, content: [p(t(text))] });
    const body = {
      type: 'doc',
      version: 1,
      content: [
        p(t('Hi '), { type: 'mention', attrs: { id: '5b10a2844c20165700ede21g', text: '@Nora New' } }, t(', please try:')),
        { type: 'orderedList', attrs: { order: 1 }, content: [{ type: 'listItem', content: [p(t('Restart the VPN client'))] }, { type: 'listItem', content: [p(t('Sign in again'))] }] },
        p(t('Status: '), { type: 'inlineCard', attrs: { url: 'https://status.acme.example/incidents/42' } }),
        { type: 'blockquote', content: [p(t('It drops every hour'))] },
        { type: 'panel', attrs: { panelType: 'warning' }, content: [p(t('Keep your old password until Monday.'))] },
        { type: 'table', content: [{ type: 'tableRow', content: [cell('tableHeader', 'Port'), cell('tableHeader', 'State')] }, { type: 'tableRow', content: [cell('tableCell', '443'), cell('tableCell', 'open')] }] },
      ],
    };
    const { key, comment } = await commented('SUP', ['nora@customer.example'], body);
    const r = await commentMailFor(jira.client(), key, comment, (id) => (id === 'support' ? mailbox : undefined));
    if ('why' in r) throw new Error(r.why);
    expect(r.message('{test}', 'acme.example').text).toBe(
      [
        'Hi @Nora New, please try:',
        '1. Restart the VPN client\n2. Sign in again',
        'Status: https://status.acme.example/incidents/42',
        '> It drops every hour',
        'Keep your old password until Monday.',
        'Port | State\n443 | open',
        `-- \n${key}: reply to this mail to answer.`,
      ].join('\n\n'),
    );
  });
});
