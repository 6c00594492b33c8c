// The customer reply loop's workload (issue 26), for the benchmark (bench/respond.ts) and the
// kill drill (test/e2e/respond-kill.test.ts): issues made from mail, each carrying the
// `mailroom.message` property the deliverer writes (with its email-only participants), created
// through REST; agents' public comments posted through REST, which the simulator announces with
// Jira's `comment_created` webhook to the web role's intake (run here in-process), which queues
// the `respond` jobs. What reaches the SMTP server is then read back by Message-ID.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { silentLogger } from '../../src/core/log.js';
import { MESSAGE_PROPERTY } from '../../src/deliver/delivery.js';
import type { JiraSim, SeededSite } from '../../src/jira-sim/index.js';
import { buildWebServer } from '../../src/web/server.js';
import { headersOf, type Received } from '../../test/integration/notify-smtp-sink.js';

export interface MailIssue {
  key: string;
  /** Its email-only participants (the property's `mailOnly`). */
  to: string[];
  /** The customer's Message-ID the issue was made from, bare (the property's `id`). */
  mail: string;
  summary: string;
}

const basic = (email: string, token: string) => 'Basic ' + Buffer.from(`${email}:${token}`).toString('base64');

/** `fn` over `items`, `lanes` at a time. */
async function inLanes<T>(items: T[], lanes: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i);
  }));
}

async function post(url: string, auth: string, body: unknown): Promise<{ id: string; key?: string }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify(body) });
  if (r.status !== 201) throw new Error(`POST ${url}: ${r.status} ${await r.text()}`);
  return (await r.json()) as { id: string; key?: string };
}

/**
 * `issues` issues in the site's project, made by the workaround admin with the property the
 * deliverer writes for a mail from a verified sender with `recipients` mail-only participants.
 */
export async function createMailIssues(sim: JiraSim, site: SeededSite, o: { issues: number; recipients: number; tag: string; mailboxId: string }): Promise<MailIssue[]> {
  const auth = basic(site.admin.email, site.admin.token);
  const out: MailIssue[] = new Array<MailIssue>(o.issues);
  await inLanes(Array.from({ length: o.issues }, (_, i) => i), 8, async (i) => {
    const mail = `${o.tag}-${i}@customer.example`;
    const to = Array.from({ length: o.recipients }, (_, r) => `${o.tag}-${i}-${r}@customer.example`);
    const summary = `Printer ${i} jams`;
    const property = { id: mail, mailboxId: o.mailboxId, sha256: 'b'.repeat(64), complete: true, mailOnly: to };
    const made = await post(`${sim.url}/rest/api/3/issue`, auth, {
      fields: { project: { key: site.project }, issuetype: { name: 'Task' }, summary },
      properties: [{ key: MESSAGE_PROPERTY, value: property }],
    });
    out[i] = { key: made.key!, to, mail, summary };
  });
  return out;
}

/** One public comment by an agent on each issue (REST, as Alice); returns the comment ids in order. */
export async function postAgentComments(sim: JiraSim, site: SeededSite, issues: MailIssue[]): Promise<string[]> {
  const auth = basic(site.users.alice.email!, sim.state.addToken({ accountId: site.users.alice.accountId }));
  const ids: string[] = new Array<string>(issues.length);
  await inLanes(issues, 8, async (issue, i) => {
    const text = `Hello, we replaced the roller of ${issue.key}: please try again.`;
    const made = await post(`${sim.url}/rest/api/3/issue/${issue.key}/comment`, auth, {
      body: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] },
    });
    ids[i] = made.id;
  });
  return ids;
}

/** The web role's Jira webhook intake (comments mailed to customers), with the simulator's admin webhook pointed at it. */
export async function startWebhookIntake(redis: Redis, prefix: string, sim: JiraSim): Promise<FastifyInstance> {
  const secret = 'whsec-customer-mails';
  const web = await buildWebServer({
    redis,
    prefix,
    logger: silentLogger,
    auth: { mode: 'basic', users: [{ user: 'ops', password: 'ops-password-1', role: 'admin' }] },
    webhook: { secret, rules: [], respondComments: true },
  });
  await web.listen({ host: '127.0.0.1', port: 0 });
  sim.state.webhooks.register({ url: `http://127.0.0.1:${(web.server.address() as AddressInfo).port}/webhooks/jira`, secret, events: ['comment_created'] });
  return web;
}

export interface Arrival {
  messageId: string;
  to: string;
  /** From our loop header: acknowledge or comment, and the issue. */
  kind: string;
  issue: string;
  at: number;
}

/** What the SMTP server took, one entry per message, read from its headers. */
export function arrivals(received: Received[]): Arrival[] {
  return received.map((r) => {
    const h = headersOf(r.raw);
    const loop = h.get('x-mailroom-loop')?.[0] ?? '';
    return {
      messageId: h.get('message-id')?.[0] ?? '',
      to: r.to.join(','),
      kind: /kind=(\w+)/.exec(loop)?.[1] ?? '',
      issue: /issue=([A-Z][A-Z0-9]*-\d+)/.exec(loop)?.[1] ?? '',
      at: r.at,
    };
  });
}

export interface OnceCheck {
  expected: number;
  arrived: number;
  /** Expected mails (recipient, kind, issue) that never arrived. */
  missing: string[];
  /** Mails that arrived and were not expected. */
  unexpected: string[];
  /** Message-IDs that arrived more than once. */
  repeatedIds: string[];
  /** Mails that arrived under more than one Message-ID (a resend that is not the same message). */
  splitMails: string[];
}

/** Each expected mail (`to kind issue`) against what arrived, by Message-ID. */
export function checkOnce(expected: string[], got: Arrival[]): OnceCheck {
  const want = new Set(expected);
  const idsOf = new Map<string, Set<string>>();
  const perId = new Map<string, number>();
  for (const a of got) {
    const k = `${a.to} ${a.kind} ${a.issue}`;
    idsOf.set(k, (idsOf.get(k) ?? new Set()).add(a.messageId));
    perId.set(a.messageId, (perId.get(a.messageId) ?? 0) + 1);
  }
  return {
    expected: want.size,
    arrived: got.length,
    missing: [...want].filter((k) => !idsOf.has(k)),
    unexpected: [...idsOf.keys()].filter((k) => !want.has(k)),
    repeatedIds: [...perId].filter(([, n]) => n > 1).map(([id]) => id),
    splitMails: [...idsOf].filter(([, ids]) => ids.size > 1).map(([k]) => k),
  };
}
