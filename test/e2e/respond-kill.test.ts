// Issue 26, "once, and visible": the notifier role (which runs the respond queue) as a process,
// SIGKILLed while a batch of customer mails is being sent to a real SMTP server that answers
// each message late, then started again and left to drain. The mails are made the way production
// makes them: acknowledgements queued as the deliverer queues them, and agents' public comments
// posted through REST, announced by the simulator's comment_created webhook to the web role's
// intake. Each comment goes to three email-only participants, so a killed comment job has sent
// some of its mails already: without the per-recipient outcomes in Redis they would all go again.
// Outcome: every mail arrived; the only repeats are the messages the server had taken and not
// yet answered at the kill (at most the role's concurrency), each under the SAME Message-ID;
// the outbox and the audit trail name exactly the Message-IDs that arrived.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrivals, checkOnce, createMailIssues, postAgentComments, startWebhookIntake, type MailIssue } from '../../bench/lib/customer-mails.js';
import { outboxKey } from '../../src/respond/outbox.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { respond } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startSeededSim, storeAdminToken, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, REDIS_ENV, testRedis, uniquePrefix } from '../helpers/redis.js';
import { startSmtpSink, type SmtpSink } from '../integration/notify-smtp-sink.js';

const ISSUES = 24;
const RECIPIENTS = 3;
// Every issue: one acknowledgement (to its first participant) and the comment to all three.
const MAILS = ISSUES * (1 + RECIPIENTS);
// The server keeps a message at the end of DATA and says 250 this much later: the batch is
// slow enough to be killed in the middle, with messages taken but not yet known to be taken.
const ANSWER_DELAY_MS = 150;
const CONCURRENCY = respond.worker!.concurrency!;

const redis = testRedis();
const prefix = uniquePrefix('respond-kill');
const secretKey = randomBytes(32).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'mr-respond-kill-'));
let jira: SeededSim;
let sink: SmtpSink;
let web: FastifyInstance;
let queue: Queue;
let child: ChildProcess | undefined;
let stderr = '';

// The notifier role as workers/notifier.ts runs it, with a 1 s job lock and a 0.5 s stall check
// so the killed process's jobs come back within seconds, not BullMQ's 30.
const ENTRY = `
import { runRoles } from './src/roles/runtime.js';
import { notifierRole } from './src/roles/stations.js';
await runRoles('notifier', [notifierRole({ lockDuration: 1000, stalledInterval: 500 })]);
`;

function startNotifier(): ChildProcess {
  const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ENTRY], {
    cwd: process.cwd(),
    env: { ...process.env, ...REDIS_ENV, MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: secretKey, MAILROOM_SECRET_KEY_FILE: '', MAILROOM_CONFIG: join(dir, 'mailroom.yml') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child = c;
  return c;
}

const exited = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r())));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (child && child.exitCode !== null) throw new Error(`the notifier exited (${child.exitCode}) while waiting for ${what}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${sink.received.length} mails at the server; stderr: ${stderr}`);
    await sleep(50);
  }
}

beforeAll(async () => {
  jira = await startSeededSim();
  await storeAdminToken(redis, prefix, secretKey, jira.site);
  sink = await startSmtpSink();
  sink.answerDelayMs = ANSWER_DELAY_MS;
  writeFileSync(
    join(dir, 'mailroom.yml'),
    [
      'jira:',
      `  site: ${jira.sim.url}`,
      '  timeout: 5s',
      'smtp:',
      '  host: 127.0.0.1',
      `  port: ${sink.port}`,
      '  tls: none',
      '  from: mailroom@example.test',
      'mailboxes:',
      '  - id: support',
      '    addresses: [support@example.test]',
      `    deliver: { project: ${jira.site.project} }`,
      '    respond: {}',
      'queues:',
      '  respond: { attempts: 50, delay: 50ms, maxDelay: 1s }',
      'log:',
      '  level: error',
      '',
    ].join('\n'),
  );
  web = await startWebhookIntake(redis, prefix, jira.sim);
  queue = openQueue(respond, { connection: redis, prefix });
});

afterAll(async () => {
  if (child) {
    child.kill('SIGKILL');
    await exited(child);
  }
  await web?.close();
  await queue?.close();
  await sink?.close();
  await jira?.close();
  await dropPrefix(redis, prefix);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

/** The acknowledgement the deliverer queues for a new issue's sender (src/deliver/acknowledge.ts). */
const ackOf = (issue: MailIssue) => ({
  kind: 'acknowledge' as const,
  mailboxId: 'support',
  issueKey: issue.key,
  to: issue.to[0]!,
  summary: issue.summary,
  subject: issue.summary,
  inReplyTo: `<${issue.mail}>`,
  references: [],
  link: false,
  mail: issue.mail,
});

describe('notifier killed with SIGKILL in the middle of a batch of customer mails', () => {
  it(`${MAILS} mails to ${ISSUES * RECIPIENTS} customers: each arrives, only the ones in flight at the kill twice, with the same Message-ID`, { timeout: 180_000 }, async () => {
    const issues = await createMailIssues(jira.sim, jira.site, { issues: ISSUES, recipients: RECIPIENTS, tag: 'kill', mailboxId: 'support' });
    startNotifier();
    for (const issue of issues) await addJob(queue, respond, ackOf(issue));
    const commentIds = await postAgentComments(jira.sim, jira.site, issues);
    await jira.sim.state.webhooks.settle();

    // Kill once a third of the batch is at the server and messages are taken but not answered.
    await until('a third of the batch sent, with messages in flight', () => sink.received.length >= MAILS / 3 && sink.unanswered.size > 0);
    const unanswered = [...sink.unanswered];
    const atKill = sink.received.length;
    child!.kill('SIGKILL');
    await exited(child!);
    // In flight: taken and not yet answered at the kill, or taken from bytes the dead process had
    // already written (read by the server after the kill, before the restart).
    await sleep(300);
    const inFlight = new Set(arrivals([...unanswered, ...sink.received.slice(atKill)]).map((a) => a.messageId));
    expect(atKill).toBeLessThan(MAILS);

    startNotifier();
    const expected = issues.flatMap((i) => [`${i.to[0]} acknowledge ${i.key}`, ...i.to.map((to) => `${to} comment ${i.key}`)]);
    await until('every mail at the server', () => checkOnce(expected, arrivals(sink.received)).missing.length === 0);
    await until('the respond queue drained', async () => {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
      return (c.completed ?? 0) + (c.failed ?? 0) === ISSUES * 2 && sink.unanswered.size === 0;
    });
    child!.kill('SIGTERM');
    await exited(child!);

    const got = arrivals(sink.received);
    const once = checkOnce(expected, got);
    expect(once.missing).toEqual([]);
    expect(once.unexpected).toEqual([]);
    // A repeat is the same message: one Message-ID per mail, however often it went.
    expect(once.splitMails).toEqual([]);
    // The kill landed with messages taken and unanswered; exactly those went twice.
    expect(inFlight.size).toBeGreaterThan(0);
    expect(inFlight.size).toBeLessThanOrEqual(CONCURRENCY);
    expect(new Set(once.repeatedIds)).toEqual(inFlight);
    expect(got.length).toBe(MAILS + inFlight.size);
    expect((await queue.getJobCounts('failed')).failed).toBe(0);

    // The outbox and the audit trail name the Message-ID that arrived, once per mail.
    const idOf = new Map(got.map((a) => [`${a.to} ${a.kind} ${a.issue}`, a.messageId]));
    const audit = createAuditTrail({ redis, prefix });
    for (const [n, issue] of issues.entries()) {
      const jobs = [
        { id: respond.jobId(ackOf(issue)), kind: 'acknowledge', step: 'acknowledgement', to: [issue.to[0]!] },
        { id: respond.jobId({ kind: 'comment', issueKey: issue.key, commentId: commentIds[n]! }), kind: 'comment', step: 'comment-mailed', to: issue.to },
      ];
      for (const job of jobs) {
        const outcomes = await redis.hgetall(outboxKey(prefix, job.id));
        for (const to of job.to) {
          const id = idOf.get(`${to} ${job.kind} ${issue.key}`);
          expect(JSON.parse(outcomes[to]!), `${job.id} ${to}`).toMatchObject({ state: 'sent', messageId: id });
          const trail = (await audit.read(to)).filter((e) => e.step === job.step && e.jira === issue.key);
          expect(trail.map((e) => [e.outcome, e.detail]), `${job.step} ${to}`).toEqual([['ok', `accepted by the SMTP server as ${id}`]]);
        }
      }
    }
    process.stdout.write(`respond-kill: ${MAILS} mails, ${atKill} at the server at the kill, ${inFlight.size} in flight (sent twice), ${got.length} arrivals\n`);
  });
});
