// `mailroom respond resend` as an operator runs it (test/helpers/cli.ts), against real Redis, the
// Jira simulator over HTTP and a real SMTP server: an agent's comment mailed once is mailed again
// by hand, as a new message (new job id, new Message-ID), both by its job id and by issue, address
// and comment; bad arguments exit 2 saying what to fix; a job nobody kept exits 1.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/log.js';
import { MESSAGE_PROPERTY } from '../../src/deliver/delivery.js';
import { addAdmin } from '../../src/jira-sim/seed.js';
import { createMailer, type Mailer } from '../../src/notify/mailer.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { respond } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startResponderWorker } from '../helpers/stage-workers.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/dovecot.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, REDIS_ENV, testRedis, uniquePrefix } from '../helpers/redis.js';
import { FAST_RETRY } from '../helpers/sim-run.js';
import { headersOf, startSmtpSink, type SmtpSink } from '../integration/notify-smtp-sink.js';

const prefix = uniquePrefix('respond-resend');
const redis = testRedis();
const conns: Redis[] = [];
let jira: SeededSim;
let sink: SmtpSink;
let dir: string;
let configFile: string;
let config: Config;
let mailer: Mailer;
let responder: Worker;
let queue: Queue;
let issueKey: string;
let commentId: string;
const NORA = 'nora@customer.example';
const OTTO = 'otto@customer.example';
const SLOW = 120_000;

const env = () => ({ ...process.env, ...REDIS_ENV, MAILROOM_PREFIX: prefix });
const mailroom = (...args: string[]) => runCli(args, { config: configFile, env: env(), timeoutMs: SLOW });

beforeAll(async () => {
  jira = await startSeededSim();
  sink = await startSmtpSink();
  dir = mkdtempSync(join(tmpdir(), 'mr-respond-resend-'));
  configFile = join(dir, 'mailroom.yml');
  writeFileSync(
    configFile,
    [
      'jira:',
      `  site: ${jira.sim.url}`,
      'smtp:',
      '  host: 127.0.0.1',
      `  port: ${sink.port}`,
      '  tls: none',
      '  from: mailroom@acme.example',
      'mailboxes:',
      '  - id: support',
      '    addresses: [support@acme.example]',
      '    deliver: { project: SUP }',
      '    respond: { maxPerRecipientPerHour: 3 }',
      '',
    ].join('\n'),
  );
  config = loadConfig(configFile, env());
  const mailbox = (id: string) => config.mailboxes.find((m) => m.id === id);
  const client = jira.client();
  mailer = createMailer(config.smtp, undefined);
  const conn = testRedis({ forWorker: true });
  conns.push(conn);
  responder = startResponderWorker(
    { redis, prefix, mailer, mailbox, smtpFrom: config.smtp!.from, site: jira.sim.url, installId: prefix, audit: createAuditTrail({ redis, prefix }), jira: async () => client },
    { connection: conn, logger: silentLogger, retry: FAST_RETRY },
  );
  queue = openQueue(respond, { connection: redis, prefix });
  // An issue Mailroom made from Nora's mail, and an agent's public comment on it.
  const issue = await client.createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'Printer jammed' }, {
    properties: [{ key: MESSAGE_PROPERTY, value: { id: 'first@customer.example', mailboxId: 'support', mailOnly: [NORA, OTTO], complete: true } }],
  });
  const agent = addAdmin(jira.sim.state, { email: 'agent@acme.example' });
  const c = await jira.client({ email: agent.account.email, token: agent.token }).addComment(issue.key, {
    type: 'doc',
    version: 1,
    content: [{ type: 'paragraph', content: [{ type: 'text', text: 'Please try the rear tray.' }] }],
  });
  issueKey = issue.key;
  commentId = c.id;
}, 60_000);

afterAll(async () => {
  await responder?.close();
  mailer?.close();
  await queue?.close();
  await sink?.close();
  await jira?.close();
  for (const c of conns) c.disconnect();
  await dropPrefix(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const messageIds = () => sink.received.map((r) => headersOf(r.raw).get('message-id')?.[0]);

describe('mailroom respond resend', () => {
  it('mails a sent comment again as a new message, by job id and by issue/address/comment', { timeout: SLOW * 2 }, async () => {
    const to = () => sink.received.map((r) => r.to.join(',')).sort();
    const first = await addJob(queue, respond, { kind: 'comment', issueKey, commentId });
    await waitFor('the comment mails', async () => sink.received[1], 30_000);
    expect(to()).toEqual([NORA, OTTO]);

    // By job id: the whole comment mail again, to each participant it went to.
    const byId = await mailroom('respond', 'resend', String(first.id));
    expect(byId.stderr).toBe('');
    expect(byId.code).toBe(0);
    expect(byId.stdout).toContain(`queued ${String(first.id)}|resend|1`);
    await waitFor('the resent mails', async () => sink.received[3], 30_000);
    expect(to()).toEqual([NORA, NORA, OTTO, OTTO]);
    expect(sink.received[3]!.raw.toString()).toContain('Please try the rear tray.');

    // By issue, address and comment: that one participant only.
    const named = await mailroom('respond', 'resend', '--issue', issueKey.toLowerCase(), '--to', NORA.toUpperCase(), '--comment', commentId, '--json');
    expect(named.code).toBe(0);
    expect(JSON.parse(named.stdout)).toMatchObject({ jobId: `${String(first.id)}|${NORA}|resend|2`, of: String(first.id), kind: 'comment' });
    await waitFor('the second resend', async () => sink.received[4], 30_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(to()).toEqual([NORA, NORA, NORA, OTTO, OTTO]);

    // Five messages, five Message-IDs: a resend by hand is a new message, not a duplicate.
    expect(new Set(messageIds()).size).toBe(5);
    const audit = await createAuditTrail({ redis, prefix }).read(NORA);
    const queued = audit.filter((e) => e.step === 'resend-queued');
    expect(queued).toHaveLength(2);
    expect(queued[0]!.detail).toMatch(/^mailroom respond resend by .+: comment \d+ to nora@customer\.example, a copy of respond\|comment\|/);
    expect(audit.filter((e) => e.step === 'comment-mailed' && e.outcome === 'ok')).toHaveLength(3);

    // A resend is not a way round the hourly ceiling (3 here): queued, then skipped, and said so.
    const over = await mailroom('respond', 'resend', String(first.id), '--to', NORA);
    expect(over.code).toBe(0);
    const skipped = await waitFor('the skip in the audit trail', async () =>
      (await createAuditTrail({ redis, prefix }).read(NORA)).find((e) => e.step === 'comment-mailed' && e.outcome === 'skipped'), 30_000);
    expect(skipped.detail).toMatch(/had 3 mails from Mailroom within the hour \(respond\.maxPerRecipientPerHour\)/);
    expect(sink.received).toHaveLength(5);
  });

  it('an acknowledgement is resent by issue, address and --ack; a job id with another address is refused', { timeout: SLOW }, async () => {
    const PAULA = 'paula@customer.example';
    const ack = await addJob(queue, respond, {
      kind: 'acknowledge', mailboxId: 'support', issueKey, to: PAULA, summary: 'Printer jammed', subject: 'Printer jammed',
      inReplyTo: '<first@customer.example>', references: [], link: false, mail: 'first@customer.example',
    });
    const mine = () => sink.received.filter((r) => r.to.includes(PAULA));
    await waitFor('the acknowledgement', async () => mine()[0], 30_000);
    const again = await mailroom('respond', 'resend', '--issue', issueKey, '--to', PAULA, '--ack');
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`queued ${String(ack.id)}|resend|1`);
    await waitFor('the resent acknowledgement', async () => mine()[1], 30_000);
    const [a, b] = mine().map((r) => headersOf(r.raw));
    expect(b!.get('subject')).toEqual(a!.get('subject'));
    expect(b!.get('in-reply-to')).toEqual(['<first@customer.example>']);
    expect(b!.get('message-id')).not.toEqual(a!.get('message-id'));
    const trail = await createAuditTrail({ redis, prefix }).read('first@customer.example');
    expect(trail.find((e) => e.step === 'resend-queued')?.detail).toMatch(/acknowledgement to paula@customer\.example/);

    const wrong = await mailroom('respond', 'resend', String(ack.id), '--to', NORA);
    expect(wrong.stderr).toMatch(/is the acknowledgement to paula@customer\.example, not nora@customer\.example/);
    expect(wrong.code).toBe(2);
  });

  it('bad arguments exit 2 and say what to fix', { timeout: SLOW }, async () => {
    const cases: [string[], RegExp][] = [
      [['respond', 'resend'], /give a respond job id, or --issue/],
      [['respond', 'resend', 'not-a-job'], /is not a respond job id/],
      [['respond', 'resend', '--issue', 'sup 12', '--to', NORA, '--ack'], /is not an issue key/],
      [['respond', 'resend', '--issue', 'SUP-1', '--to', 'nora-at-customer', '--ack'], /--to "nora-at-customer" is not an email address/],
      [['respond', 'resend', '--issue', 'SUP-1', '--to', NORA], /exactly one of --comment ID or --ack/],
      [['respond', 'resend', '--issue', 'SUP-1', '--to', NORA, '--comment', '12a'], /is not a Jira comment id/],
    ];
    for (const [args, why] of cases) {
      const r = await mailroom(...args);
      expect(r.stderr, args.join(' ')).toMatch(why);
      expect(r.code, args.join(' ')).toBe(2);
    }
  });

  it('a job nobody kept, or an address it never mailed, exits 1 and queues nothing', { timeout: SLOW }, async () => {
    const before = sink.received.length;
    const unknown = await mailroom('respond', 'resend', 'respond|comment|SUP-999|10001');
    expect(unknown.stderr).toMatch(/no respond job respond\|comment\|SUP-999\|10001 is kept/);
    expect(unknown.code).toBe(1);
    const stranger = await mailroom('respond', 'resend', '--issue', issueKey, '--to', 'mallory@elsewhere.example', '--comment', commentId);
    expect(stranger.stderr).toMatch(/never mailed mallory@elsewhere\.example/);
    expect(stranger.code).toBe(1);
    const strangerById = await mailroom('respond', 'resend', respond.jobId({ kind: 'comment', issueKey, commentId }), '--to', 'mallory@elsewhere.example');
    expect(strangerById.stderr).toMatch(/never mailed mallory@elsewhere\.example/);
    expect(strangerById.code).toBe(1);
    const noAck = await mailroom('respond', 'resend', '--issue', issueKey, '--to', NORA, '--ack');
    expect(noAck.stderr).toMatch(/no respond job for an acknowledgement/);
    expect(noAck.code).toBe(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.received.length).toBe(before);
  });
});
