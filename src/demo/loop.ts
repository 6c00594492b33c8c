// The demo's customer reply loop (issue 26, docs/customer-replies.md): the demo mailbox gets a
// `respond` section, the notifier an `smtp` section pointing at the demo's own SMTP sink, and the
// web role a webhook secret; the simulator's admin webhook is registered at the web role's
// intake. After the sample mails have gone through, an agent answers in Jira (a public comment,
// then an internal note restricted to a project role) on the issue of a customer Jira cannot mail, and the sink shows what
// reached whom.
//
// Why the demo's senders count as verified: the sample mails carry the Authentication-Results a
// receiving server writes on arrival, from the demo mailbox's receiving host `mx.example.com`
// (named in `policy.authservIds` of mailroom.example.yml), with an aligned `dmarc=pass`. A real
// mx.example.com would write exactly that for these senders and strip any such header the
// sender brought; so the demo needs no bypass of the respond rules (src/deliver/ack-decide.ts):
// it is acknowledged because its sender is verified, as a real customer would be.
import type { Queue } from 'bullmq';
import { MESSAGE_PROPERTY } from '../deliver/delivery.js';
import type { JiraSim, SeededSite } from '../jira-sim/index.js';
import { respond } from '../queues/catalog.js';

/** The environment variable the demo's config names for the webhook secret (a fresh one per run). */
export const DEMO_WEBHOOK_SECRET_ENV = 'MAILROOM_DEMO_WEBHOOK_SECRET';
/** The demo mailbox that answers customers. */
const DEMO_MAILBOX = 'support';

/**
 * The example configuration plus the loop: `respond` on the demo mailbox (defaults: acknowledge
 * and mail agents' comments), `smtp` at the sink (plain SMTP, allowed on loopback only) and the
 * webhook secret for the web role's intake. Returned raw: it is validated like any config.
 */
export function withCustomerReplies(raw: unknown, sinkPort: number): Record<string, unknown> {
  const config = { ...(raw as Record<string, unknown>) };
  const boxes = Array.isArray(config.mailboxes) ? (config.mailboxes as Record<string, unknown>[]) : [];
  config.mailboxes = boxes.map((m) => (m.id === DEMO_MAILBOX ? { ...m, respond: {} } : m));
  config.smtp = { host: '127.0.0.1', port: sinkPort, tls: 'none', from: 'support@example.com' };
  config.notifications = { webhookSecretEnv: DEMO_WEBHOOK_SECRET_ENV, rules: [] };
  return config;
}

export interface AgentStep {
  agent: string;
  issueKey: string;
  /** The issue's email-only participants: people Jira itself would never mail. */
  customers: string[];
  publicText: string;
  internalText: string;
  /** The project role the internal note is restricted to. */
  internalRole: string;
  /** What the respond stage decided for each comment (its job's answer). */
  publicOutcome: string;
  internalOutcome: string;
}

const PUBLIC_TEXT = 'Thank you for writing to us. We are on it and will write again here when it is done.';
const INTERNAL_TEXT = 'Internal: check the contract before promising anything.';
/** A role every company-managed Jira project has. */
const INTERNAL_ROLE = 'Administrators';

/**
 * An agent answers, as in Jira's issue view, on the first issue Mailroom made whose participants
 * include someone without a Jira account: a public comment, then an internal note. Waits until
 * the respond stage has decided both. Undefined when no issue has such a participant.
 */
export async function agentAnswers(sim: JiraSim, site: SeededSite, respondQ: Queue, timeoutMs: number): Promise<AgentStep | undefined> {
  const issue = sim.state.allIssues().find((i) => mailOnlyOf(i.properties.get(MESSAGE_PROPERTY)).length > 0);
  if (!issue) return undefined;
  const alice = site.users.alice;
  const token = sim.state.addToken({ accountId: alice.accountId });
  const headers = { 'content-type': 'application/json', authorization: 'Basic ' + Buffer.from(`${alice.email}:${token}`).toString('base64') };
  const post = async (text: string, internal: boolean): Promise<string> => {
    const body = {
      body: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] },
      // SUP is a Jira Software project: there an internal note is a comment restricted to a
      // project role ("Restrict to" in the issue view; addComment's `visibility`). JSM's
      // `sd.public.comment` does not apply: on a platform project `jsdPublic` is always true
      // (jira-platform-v3.json, Comment.jsdPublic).
      ...(internal ? { visibility: { type: 'role', value: INTERNAL_ROLE } } : {}),
    };
    const r = await fetch(`${sim.url}/rest/api/3/issue/${issue.key}/comment`, { method: 'POST', headers, body: JSON.stringify(body) });
    if (r.status !== 201) throw new Error(`the simulator refused the agent's comment on ${issue.key}: HTTP ${r.status}`);
    return ((await r.json()) as { id: string }).id;
  };
  const publicId = await post(PUBLIC_TEXT, false);
  const internalId = await post(INTERNAL_TEXT, true);
  const deadline = Date.now() + timeoutMs;
  const decided = (id: string) => decision(sim, respondQ, issue.key, id, deadline);
  return {
    agent: alice.displayName,
    issueKey: issue.key,
    customers: mailOnlyOf(issue.properties.get(MESSAGE_PROPERTY)),
    publicText: PUBLIC_TEXT,
    internalText: INTERNAL_TEXT,
    internalRole: INTERNAL_ROLE,
    publicOutcome: await decided(publicId),
    internalOutcome: await decided(internalId),
  };
}

function mailOnlyOf(property: unknown): string[] {
  const list = (property as { mailOnly?: unknown } | undefined)?.mailOnly;
  return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
}

/** The respond job's answer for one comment, once Jira's webhook has reached the web role and the job ended. */
async function decision(sim: JiraSim, respondQ: Queue, issueKey: string, commentId: string, deadline: number): Promise<string> {
  const id = respond.jobId({ kind: 'comment', issueKey, commentId });
  while (Date.now() < deadline) {
    await sim.state.webhooks.settle();
    const job = await respondQ.getJob(id);
    if (job && (await job.isFailed())) return `failed: ${job.failedReason}`;
    const r = job?.returnvalue as { sent?: number; why?: string } | undefined;
    if (r) return r.why ?? `mailed to ${r.sent ?? 0}`;
    await new Promise((res) => setTimeout(res, 100));
  }
  return 'not decided in time (see the respond queue on the board)';
}
