// `mailroom reprocess` as a person runs it: the CLI is a subprocess with its own config file;
// the resolver, provisioner and deliverer roles run in this process against the Jira simulator.
// A delivered mail run again stays one issue with the same account and attachments; a mail
// whose delivery failed for good is delivered once the cause is fixed and it is reprocessed;
// a mail being processed right now is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, type Job, type Queue } from 'bullmq';
import { loadConfig, type Config } from '../../src/config/load.js';
import { DEMO_MAILS } from '../../src/demo/run.js';
import { delivererRole } from '../../src/roles/stations.js';
import type { DeliverResult } from '../../src/deliver/deliverer.js';
import { startJiraSim, seedDemo, type JiraSim } from '../../src/jira-sim/index.js';
import { silentLogger } from '../../src/core/log.js';
import { prepareMail } from '../../src/mail/prepare.js';
import { createMailStore } from '../../src/mail/store.js';
import type { AuditEvent } from '../../src/queues/audit.js';
import { provisionerRole, resolverRole } from '../../src/roles/stations.js';
import { jiraDeliver, mailInbound } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { createRoleContext, type Stoppable } from '../../src/roles/runtime.js';
import { loadSecretKey } from '../../src/token/key.js';
import { saveToken } from '../../src/token/store.js';
import { dropPrefix, REDIS_ENV, testRedis, uniquePrefix } from '../helpers/redis.js';
import { runCli, type CliRun as Run } from '../helpers/cli.js';

const prefix = uniquePrefix('clireprocess');
const idlePrefix = uniquePrefix('clireprocess-idle');
const redis = testRedis({ forWorker: true });
const secret = randomBytes(32).toString('base64');
let dir: string;
let configFile: string;
let sim: JiraSim;
let config: Config;
let inbound: Queue;
let deliver: Queue;
let roles: { ctx: ReturnType<typeof createRoleContext>; running: Stoppable[] } | undefined;


function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runCli(args, { config: configFile, env: { ...process.env, MAILROOM_PREFIX: prefix, ...REDIS_ENV, MAILROOM_SECRET_KEY: secret, MAILROOM_LOG_LEVEL: 'error', ...env } });
}

/** Before the fix, the sales mailbox has no deliver section and names a product Jira does not know. */
function writeConfig(salesFixed: boolean): void {
  writeFileSync(
    configFile,
    [
      `jira: { site: "${sim.url}" }`,
      `store: { kind: fs, dir: "${join(dir, 'mail')}" }`,
      'mailboxes:',
      '  - id: support',
      '    addresses: [support@example.com]',
      '    policy: { autoCreate: user, products: [jira-software], groups: [support-customers] }',
      '    deliver: { project: SUP, issueType: Task }',
      '  - id: sales',
      '    addresses: [sales@example.com]',
      `    policy: { autoCreate: user, products: [${salesFixed ? 'jira-software' : 'no-such-product'}], groups: [support-customers] }`,
      ...(salesFixed ? ['    deliver: { project: SUP, issueType: Task }'] : []),
      '',
    ].join('\n'),
  );
  config = loadConfig(configFile, { ...REDIS_ENV, MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: secret });
}

async function startRoles(): Promise<void> {
  const ctx = createRoleContext(config, silentLogger);
  const running: Stoppable[] = [];
  for (const start of [resolverRole(), provisionerRole(), delivererRole()]) running.push(await start(ctx));
  roles = { ctx, running };
}

async function stopRoles(): Promise<void> {
  if (!roles) return;
  await Promise.allSettled(roles.running.reverse().map((r) => r.stop()));
  await roles.ctx.closeAll();
  roles = undefined;
}

async function feed(file: string, mailboxId: string): Promise<string> {
  const record = await prepareMail(readFileSync(join(DEMO_MAILS, file)), createMailStore(config, redis));
  await addJob(inbound, mailInbound, { mailboxId, origin: { kind: 'file', name: file }, record, receivedAt: new Date().toISOString() }, config.queues);
  return record.messageId!;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const deliverId = (mailboxId: string, messageId: string) => `deliver|${mailboxId}|${messageId}`;

/** The deliver job once it has finished (added after `since`, when given). */
async function finished(mailboxId: string, messageId: string, since = 0): Promise<Job> {
  return until(`${deliverId(mailboxId, messageId)} to finish`, async () => {
    const job = await deliver.getJob(deliverId(mailboxId, messageId));
    if (!job || job.timestamp < since) return undefined;
    const state = await job.getState();
    // Read again: the job fetched above may predate its completion (no result or reason yet).
    return state === 'completed' || state === 'failed' ? deliver.getJob(deliverId(mailboxId, messageId)) : undefined;
  });
}

const jiraAccounts = () => [...sim.state.accounts.values()].map((a) => a.accountId).sort();
const issuesFor = (summaryPart: string) => sim.state.allIssues().filter((i) => String(i.fields.summary ?? '').includes(summaryPart));

async function audit(messageId: string): Promise<AuditEvent[]> {
  const r = await cli(['audit', messageId, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as AuditEvent[];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mailroom-cli-reprocess-'));
  configFile = join(dir, 'mailroom.yml');
  sim = await startJiraSim({});
  const site = seedDemo(sim);
  writeConfig(false);
  await saveToken(redis, prefix, loadSecretKey({ base64: secret }), {
    token: site.admin.token,
    email: site.admin.email,
    accountId: site.admin.accountId,
    storedAt: new Date(),
    expiresAt: new Date(Date.now() + 365 * 86_400_000),
  });
  inbound = openQueue(mailInbound, { connection: redis, prefix });
  deliver = openQueue(jiraDeliver, { connection: redis, prefix });
  await startRoles();
});

afterAll(async () => {
  await stopRoles();
  await inbound?.close();
  await deliver?.close();
  await sim?.close();
  await dropPrefix(redis, prefix);
  await dropPrefix(redis, idlePrefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

describe('mailroom reprocess', () => {
  it('runs a delivered mail again: same issue, same account, attachments not uploaded twice; a second run in the audit trail', async () => {
    const id = await feed('07-html-with-attachment.eml', 'support');
    const first = await finished('support', id);
    expect((first.returnvalue as DeliverResult).outcome).toBe('delivered');
    const accounts = jiraAccounts();
    const [issue] = issuesFor('');
    expect(sim.state.allIssues()).toHaveLength(1);
    const attachments = issue!.attachments.length;
    expect(attachments).toBeGreaterThan(0);

    const since = Date.now();
    const r = await cli(['reprocess', '--message-id', id, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { mail: string; mailboxId: string; removed: string[]; deliveredBefore?: string; source: string };
    expect(result).toMatchObject({ mail: 'invoice-3@customer-two.test', mailboxId: 'support', source: 'jobs', deliveredBefore: issue!.key });
    expect(result.removed).toEqual([`jira-deliver/${deliverId('support', id)}`, expect.stringMatching(/^mail-inbound\/[0-9a-f]{64}$/)]);

    const again = await finished('support', id, since);
    expect(again.returnvalue as DeliverResult).toMatchObject({ outcome: 'duplicate', issueKey: issue!.key });
    expect(sim.state.allIssues()).toHaveLength(1);
    expect(issue!.attachments).toHaveLength(attachments);
    expect(jiraAccounts()).toEqual(accounts);

    const events = await audit(id);
    expect(events.filter((e) => e.step === 'deliver-queued')).toHaveLength(2);
    expect(events.filter((e) => e.step === 'reprocess')).toHaveLength(1);
    expect(events.filter((e) => e.step === 'delivered').map((e) => e.outcome)).toEqual(['ok', 'duplicate']);
    expect(events.filter((e) => e.step === 'create-user' && e.outcome === 'created')).toHaveLength(1);
  });

  it('from a file: the same mail read again starts over from its earlier jobs and stays one issue', async () => {
    const before = sim.state.allIssues().length;
    const since = Date.now();
    const r = await cli(['reprocess', '--file', join(DEMO_MAILS, '07-html-with-attachment.eml'), '--mailbox', 'support']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^queued again: invoice-3@customer-two\.test \(mailbox support\)/);
    expect(r.stdout).toContain('removed:      jira-deliver/');
    const again = await finished('support', '<invoice-3@customer-two.test>', since);
    expect((again.returnvalue as DeliverResult).outcome).toBe('duplicate');
    expect(sim.state.allIssues()).toHaveLength(before);
  });

  it("makes the sender's account and delivers a mail whose provisioning and delivery failed for good, once the causes are fixed", async () => {
    const ana = 'ana.souza@customer-one.test';
    const id = await feed('01-new-customer-printer.eml', 'sales');
    const failed = await finished('sales', id);
    expect(failed.failedReason).toMatch(/mailbox "sales" has no deliver section/);
    expect(failed.data.people).toEqual([expect.objectContaining({ email: ana, status: 'gave-up', reason: expect.stringContaining('Invalid products: no-such-product') })]);
    const hasAccount = () => [...sim.state.accounts.values()].some((a) => a.email === ana);
    expect(hasAccount()).toBe(false);
    const issues = sim.state.allIssues().length;

    // The fix: a known product, and a deliver section; the roles restart on it.
    await stopRoles();
    writeConfig(true);
    await startRoles();
    const since = Date.now();
    const r = await cli(['reprocess', '--message-id', id.replace(/^<|>$/g, '')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('queued again: printer-1@customer-one.test (mailbox sales)');
    expect(r.stdout).toMatch(new RegExp(`retrying: +identity-provision/provision\\|127\\.0\\.0\\.1_\\d+\\|${ana.replace(/\./g, '\\.')}`));
    const done = await finished('sales', id, since);
    expect(done.returnvalue as DeliverResult).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    expect(done.data.people).toEqual([expect.objectContaining({ email: ana, status: 'provisioned' })]);
    expect(hasAccount()).toBe(true);
    expect(sim.state.allIssues()).toHaveLength(issues + 1);
    const events = await audit(id);
    expect(events.filter((e) => e.step === 'delivered').map((e) => e.outcome)).toEqual(['ok']);
  });

  it('refuses a mail that is being processed right now, and one it cannot find', async () => {
    // Another prefix where no role runs: this test's own worker holds the job.
    const q = openQueue(mailInbound, { connection: redis, prefix: idlePrefix });
    const holder = new Worker(mailInbound.name, null, { connection: redis, prefix: idlePrefix, autorun: false });
    try {
      const record = await prepareMail(readFileSync(join(DEMO_MAILS, '01-new-customer-printer.eml')), createMailStore(config, redis));
      await addJob(q, mailInbound, { mailboxId: 'support', origin: { kind: 'file' }, record, receivedAt: new Date().toISOString() });
      const job = await holder.getNextJob('holder-token');
      expect(job?.id).toBe(record.rawRef.sha256);
      const busy = await cli(['reprocess', '--message-id', record.messageId!], { MAILROOM_PREFIX: idlePrefix });
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain(`is being processed right now (mail-inbound/${record.rawRef.sha256} is active)`);
      expect(await job!.getState()).toBe('active');

      const missing = await cli(['reprocess', '--message-id', '<nobody@nowhere.test>']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('no job holds the mail <nobody@nowhere.test>');
      const usage = await cli(['reprocess']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain('give exactly one of --message-id ID or --file X.eml');
    } finally {
      await holder.close(true);
      await q.close();
    }
  });
});
