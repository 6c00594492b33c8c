// Outbound customer mails (issue 26): N issues Mailroom made from mail, each with one email-only
// participant, each answered by an agent's public comment (REST), which the simulator announces
// with Jira's comment_created webhook to the web role's intake (in this process), which queues
// N `respond` jobs. The respond queue is held while they are queued; then the notifier role (a
// real process, workers/notifier.ts) sends them to a real SMTP server on loopback. Figure:
// mails per second from the queue's release to the last message the server took; and each mail
// sent exactly once (read back at the server by Message-ID).
// Runs inside `npm run bench`, or alone on its own rig:
//   npx tsx bench/respond.ts [--issues 1000] [--latency 20] [--jitter 10]
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { Queue } from 'bullmq';
import { respond } from '../src/queues/catalog.js';
import { openQueue } from '../src/queues/queue.js';
import { startSmtpSink } from '../test/integration/notify-smtp-sink.js';
import { arrivals, checkOnce, createMailIssues, postAgentComments, startWebhookIntake } from './lib/customer-mails.js';
import { waitUntil } from './lib/observe.js';
import { MAILBOX_ID, startRig, type Rig } from './lib/rig.js';
import { perSec, round, table } from './lib/stats.js';

export interface CustomerMailsOptions {
  issues: number;
  timeoutMs: number;
}

export const CUSTOMER_MAILS: CustomerMailsOptions = { issues: 1_000, timeoutMs: 150_000 };

export interface CustomerMailsBench {
  issues: number;
  /** Messages the SMTP server took. */
  mails: number;
  /** Agents' comments -> respond jobs queued, through REST and the webhook intake (comments/s). */
  commentsQueuedPerSec: number;
  /** Queue released -> last message taken by the SMTP server. */
  mailsPerSec: number;
  /** Every comment's mail arrived once, under its own Message-ID, and nothing else arrived. */
  exactlyOnce: boolean;
  missing: number;
  repeated: number;
  unexpected: number;
  /** Jira calls the notifier made per mail (reading the comment, the property, the issue). */
  jiraCallsPerMail: number;
}

const completed = async (q: Queue) => (await q.getJobCounts('completed'))['completed'] ?? 0;

export async function benchCustomerMails(rig: Rig, o: CustomerMailsOptions = CUSTOMER_MAILS): Promise<CustomerMailsBench> {
  const sink = await startSmtpSink();
  const run = await rig.newRun('respond', {
    config: { smtp: { host: '127.0.0.1', port: sink.port, tls: 'none', from: 'mailroom@example.test' } },
    mailbox: { respond: {} },
  });
  const queue = openQueue(respond, { connection: rig.conn, prefix: run.prefix });
  const web = await startWebhookIntake(rig.conn, run.prefix, rig.sim);
  const alive = (what: string) => async () => {
    const p = run.running.get('notifier');
    if (p && p.child.exitCode !== null) throw new Error(`the notifier exited (${p.child.exitCode}) while waiting for ${what}: ${p.stderr().slice(-1500)}`);
    return `${sink.received.length} mails at the server, queue ${JSON.stringify(await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed'))}; notifier stderr: ${p?.stderr().slice(-1500) ?? ''}`;
  };
  try {
    await queue.pause();
    run.start('notifier');
    await waitUntil('a worker on the respond queue', async () => (await queue.getWorkers()).length > 0, o.timeoutMs, alive('its worker'));
    const issues = await createMailIssues(rig.sim, rig.site, { issues: o.issues, recipients: 1, tag: `cm${Date.now().toString(36)}`, mailboxId: MAILBOX_ID });
    const posted = Date.now();
    await postAgentComments(rig.sim, rig.site, issues);
    await rig.sim.state.webhooks.settle();
    await waitUntil('a respond job per comment', async () => ((await queue.getJobCounts('waiting'))['waiting'] ?? 0) === o.issues, o.timeoutMs, alive('the jobs'));
    const commentsQueuedPerSec = perSec(o.issues, Date.now() - posted);
    const callsBefore = rig.sim.counters.count();
    const released = Date.now();
    await queue.resume();
    await waitUntil('every customer mail sent', async () => (await completed(queue)) === o.issues, o.timeoutMs, alive('the mails'));
    const got = arrivals(sink.received);
    const once = checkOnce(issues.map((i) => `${i.to[0]} comment ${i.key}`), got);
    const exactlyOnce = !once.missing.length && !once.repeatedIds.length && !once.unexpected.length && !once.splitMails.length && got.length === o.issues;
    return {
      issues: o.issues,
      mails: got.length,
      commentsQueuedPerSec,
      mailsPerSec: got.length ? perSec(got.length, Math.max(...got.map((a) => a.at)) - released) : 0,
      exactlyOnce,
      missing: once.missing.length,
      repeated: once.repeatedIds.length,
      unexpected: once.unexpected.length,
      jiraCallsPerMail: round((rig.sim.counters.count() - callsBefore) / o.issues, 2),
    };
  } finally {
    await run.stopAll();
    await web.close();
    // The rig's simulator has no other webhook: none is left pointing at the closed intake.
    rig.sim.state.webhooks.clear();
    await queue.close();
    await sink.close();
  }
}

/** The figure's row for the bench table. */
export function customerMailRows(b: CustomerMailsBench): (string | number | undefined)[][] {
  const once = b.exactlyOnce ? 'each sent exactly once' : `NOT once: ${b.missing} missing, ${b.repeated} repeated, ${b.unexpected} unexpected`;
  return [
    ['outbound customer mails (mails/s)', `${b.mailsPerSec} (${once})`, `${b.issues} issues, one agent public comment each, one email-only participant; notifier process, loopback SMTP`],
    ['  Jira calls per customer mail', b.jiraCallsPerMail, 'same run (comment, issue property, issue)'],
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values: a } = parseArgs({ options: { issues: { type: 'string', default: String(CUSTOMER_MAILS.issues) }, latency: { type: 'string', default: '20' }, jitter: { type: 'string', default: '10' } } });
  const rig = await startRig({ latencyMs: Number(a.latency), jitterMs: Number(a.jitter) });
  try {
    const r = await benchCustomerMails(rig, { ...CUSTOMER_MAILS, issues: Number(a.issues) });
    process.stdout.write(table([['figure', 'value', 'workload'], ...customerMailRows(r)]) + '\n');
    process.stdout.write(JSON.stringify(r) + '\n');
  } finally {
    await rig.close();
  }
  process.exit(0);
}
