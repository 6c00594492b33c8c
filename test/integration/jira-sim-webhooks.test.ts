// The simulator's admin webhooks (src/jira-sim/webhooks.ts): issue and comment events reach a
// registered URL over HTTP, signed as Jira signs admin webhooks, and the comment's publicness is
// learnt by reading it through REST (the webhook body does not carry jsdPublic).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSignature } from '../../src/notify/signature.js';
import { withSim } from '../helpers/jira-sim.js';

const SECRET = 'whsec-test-1';
/** What the simulator posts, as far as these tests read it. */
interface Delivered {
  webhookEvent: string;
  timestamp: unknown;
  issue: { key: string };
  comment?: { id: string; jsdPublic?: boolean; author: { accountId: string } };
}
const received: { headers: Record<string, unknown>; raw: Buffer; body: Delivered }[] = [];
let server: Server;
let url = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push({ headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')) });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/jira`;
});
afterAll(async () => new Promise<void>((r) => server.close(() => r())));

const jira = withSim();
const adf = (t: string) => ({ type: 'doc' as const, version: 1 as const, content: [{ type: 'paragraph', content: [{ type: 'text', text: t }] }] });

describe('simulator webhooks', () => {
  it('sends issue_created and comment_created, signed with the secret, and REST tells public from internal', async () => {
    received.length = 0;
    const { sim, site } = jira();
    const reg = await fetch(`${sim.url}/__sim/webhooks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url, secret: SECRET }) });
    expect(reg.status).toBe(200);
    const client = jira().client();
    const issue = await client.createIssue({ project: { key: site.project }, issuetype: { name: 'Task' }, summary: 'Printer on fire' });
    const agentToken = sim.state.addToken({ accountId: site.users.alice.accountId });
    const agent = jira().client({ email: 'alice@acme.example', token: agentToken });
    const pub = await agent.addComment(issue.key, adf('We are on it'));
    const internalRes = await fetch(`${sim.url}/rest/api/3/issue/${issue.key}/comment`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Basic ' + Buffer.from(`alice@acme.example:${agentToken}`).toString('base64') },
      body: JSON.stringify({ body: adf('internal: customer is grumpy'), properties: [{ key: 'sd.public.comment', value: { internal: true } }] }),
    });
    const internal = (await internalRes.json()) as { id: string; jsdPublic: boolean };
    expect(internal.jsdPublic).toBe(false);
    await sim.state.webhooks.settle();

    expect(received.map((r) => r.body.webhookEvent)).toEqual(['jira:issue_created', 'comment_created', 'comment_created']);
    for (const r of received) {
      expect(checkSignature(SECRET, r.raw, r.headers['x-hub-signature'] as string)).toEqual({ ok: true });
      expect(checkSignature('another-secret', r.raw, r.headers['x-hub-signature'] as string).ok).toBe(false);
      expect(typeof r.body.timestamp).toBe('number');
      expect(r.body.issue.key).toBe(issue.key);
      expect(r.body.comment?.jsdPublic).toBeUndefined();
    }
    expect(received[1]!.body.comment?.id).toBe(pub.id);
    expect(received[1]!.body.comment?.author.accountId).toBe(site.users.alice.accountId);

    const read = async (id: string) =>
      (await (await fetch(`${sim.url}/rest/api/3/issue/${issue.key}/comment/${id}`, { headers: { authorization: 'Basic ' + Buffer.from(`${site.admin.email}:${site.admin.token}`).toString('base64') } })).json()) as { jsdPublic: boolean };
    expect((await read(pub.id)).jsdPublic).toBe(true);
    expect((await read(internal.id)).jsdPublic).toBe(false);
  });

  it('sends nothing unsigned when no secret is set, and nothing once reset', async () => {
    received.length = 0;
    const { sim, site } = jira();
    sim.state.webhooks.register({ url });
    await jira().client().createIssue({ project: { key: site.project }, issuetype: { name: 'Task' }, summary: 'one' });
    await sim.state.webhooks.settle();
    expect(received).toHaveLength(1);
    expect(received[0]!.headers['x-hub-signature']).toBeUndefined();
    jira().reseed();
    await jira().client().createIssue({ project: { key: jira().site.project }, issuetype: { name: 'Task' }, summary: 'two' });
    await jira().sim.state.webhooks.settle();
    expect(received).toHaveLength(1);
  });
});
