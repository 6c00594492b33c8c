// Jira refuses per resource (a 403 on one project's attachments, a 400 "Field 'reporter' cannot
// be set" where the workaround user lacks Modify reporter): the whole pipeline, as the roles
// run in production, against the simulator. The mail still becomes an issue, degraded where it
// must be, and no queue pauses: the token works.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/load.js';
import { adfToText } from '../../src/deliver/adf.js';
import type { DeliverResult } from '../../src/deliver/deliverer.js';
import { delivererRole } from '../../src/roles/stations.js';
import { provisionerRole, resolverRole } from '../../src/roles/stations.js';
import { seedDemo, startJiraSim, type JiraSim, type SeededSite } from '../../src/jira-sim/index.js';
import { GLOBAL_PERMISSIONS, PROJECT_PERMISSIONS } from '../../src/jira-sim/state.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { silentLogger } from '../../src/core/log.js';
import { prepareMail } from '../../src/mail/prepare.js';
import { createMailStore } from '../../src/mail/store.js';
import { jiraDeliver, mailInbound } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { createRoleContext, type Stoppable } from '../../src/roles/runtime.js';
import { readTokenState } from '../../src/token/gate.js';
import { BREAKER_THRESHOLD, openBreakers } from '../../src/token/project-breaker.js';
import { breakerCheck } from '../../src/ops/project-breaker-health.js';
import { loadSecretKey } from '../../src/token/key.js';
import { saveToken } from '../../src/token/store.js';
import { rawMail } from '../helpers/deliver-testkit.js';
import { dropPrefix, REDIS_URL, testRedis } from '../helpers/redis.js';

const prefix = `{mrtest-permref-${randomBytes(4).toString('hex')}}`;
const secret = randomBytes(32).toString('base64');
const redis = testRedis({ forWorker: true });
let dir: string;
let sim: JiraSim;
let site: SeededSite;
let config: Config;
let inbound: Queue;
let deliver: Queue;
let ctx: ReturnType<typeof createRoleContext>;
const running: Stoppable[] = [];
let uid = 1;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mr-permref-'));
  sim = await startJiraSim({});
  site = seedDemo(sim);
  sim.state.addProject({ key: 'OPS', name: 'Operations' });
  const file = join(dir, 'mailroom.yml');
  writeFileSync(
    file,
    [
      `jira: { site: "${sim.url}" }`,
      `store: { kind: fs, dir: "${join(dir, 'mail')}" }`,
      'mailboxes:',
      '  - id: support',
      '    addresses: [support@example.com]',
      '    deliver: { project: SUP, issueType: Task }',
      '  - id: ops',
      '    addresses: [ops@example.com]',
      '    deliver: { project: OPS, issueType: Task }',
      'queues:',
      '  jira-deliver: { attempts: 30, delay: 50ms, maxDelay: 1s }',
      '  mail-inbound: { attempts: 30, delay: 50ms, maxDelay: 1s }',
      '  identity-provision: { attempts: 30, delay: 50ms, maxDelay: 1s }',
      '',
    ].join('\n'),
  );
  config = loadConfig(file, { REDIS_URL, MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: secret });
  await saveToken(redis, prefix, loadSecretKey({ base64: secret }), {
    token: site.admin.token,
    email: site.admin.email,
    accountId: site.admin.accountId,
    storedAt: new Date(),
    expiresAt: new Date(Date.now() + 365 * 86_400_000),
  });
  inbound = openQueue(mailInbound, { connection: redis, prefix });
  deliver = openQueue(jiraDeliver, { connection: redis, prefix });
  ctx = createRoleContext(config, silentLogger);
  for (const start of [resolverRole(), provisionerRole(), delivererRole({ recoverySettleMs: 300, breakerRecheckMs: 500 })]) running.push(await start(ctx));
});

afterAll(async () => {
  await Promise.allSettled(running.reverse().map((r) => r.stop()));
  await ctx?.closeAll();
  await inbound?.close();
  await deliver?.close();
  await sim?.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  sim.state.attachmentsRefused = false;
  const admin = sim.state.accounts.get(site.admin.accountId)!;
  admin.siteAdmin = true;
  admin.permissions = new Set([...GLOBAL_PERMISSIONS, ...PROJECT_PERMISSIONS]);
  admin.projectPermissions = new Map();
});

async function feed(mailboxId: string, to: string, n: number, o: { attach?: boolean; tag: string }): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const raw = rawMail({
      from: 'Alice Agent <alice@acme.example>',
      to,
      subject: `${o.tag} ${i}`,
      messageId: `${o.tag}-${i}-${randomBytes(3).toString('hex')}@acme.example`,
      text: `Mail ${i} of ${o.tag}.`,
      ...(o.attach ? { attachments: [{ filename: `log-${i}.txt`, contentType: 'text/plain', content: Buffer.from(`log ${i}`) }] } : {}),
    });
    const record = await prepareMail(raw, createMailStore(config, redis));
    const origin = { kind: 'imap' as const, uidvalidity: '1', uid: uid++, internalDate: new Date().toISOString() };
    await addJob(inbound, mailInbound, { mailboxId, origin, record, receivedAt: new Date().toISOString() }, config.queues);
    ids.push(record.messageId!);
  }
  return ids;
}

async function delivered(mailboxId: string, messageId: string): Promise<DeliverResult> {
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    const id = `deliver|${mailboxId}|${messageId}`;
    const job: Job | undefined = await deliver.getJob(id);
    const state = await job?.getState();
    if (state === 'completed') return (await deliver.getJob(id))!.returnvalue as DeliverResult;
    if (state === 'failed') throw new Error(`delivery failed: ${job!.failedReason}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${messageId}: ${JSON.stringify(await deliver.getJobCounts())}`);
}

const issueText = (key: string) => {
  const issue = sim.state.issue(key)!;
  return [adfToText(issue.fields.description as AdfDoc), ...issue.comments.map((c) => adfToText(c.body as AdfDoc))].join('\n');
};

describe('refusals on one resource', () => {
  it('with every attachment upload answered 403, 5 mails with attachments and 30 plain mails all become issues, the refused files named, and no queue pauses', { timeout: 120_000 }, async () => {
    sim.state.attachmentsRefused = true;
    const before = sim.state.allIssues().length;
    const withFiles = await feed('support', 'support@example.com', 5, { attach: true, tag: 'files' });
    const plain = await feed('support', 'support@example.com', 30, { tag: 'plain' });
    for (const id of withFiles) {
      const r = await delivered('support', id);
      expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue', uploaded: 0, failed: 1 });
      if (r.outcome !== 'classified') expect(issueText(r.issueKey)).toMatch(/could not upload[\s\S]*log-\d\.txt[\s\S]*CREATE_ATTACHMENTS/);
    }
    for (const id of plain) expect(await delivered('support', id)).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    expect(sim.state.allIssues().length - before).toBe(35);
    expect(sim.counters.count('addAttachment', 403)).toBe(5);
    const gate = await readTokenState(redis, prefix);
    expect(gate.paused).toBe(false);
    expect(await Promise.all([inbound.isPaused(), deliver.isPaused()])).toEqual([false, false]);
  });

  it('a project without Modify reporter gets issues reported by the workaround user with the sender named; the other project keeps its reporter; nothing pauses', { timeout: 120_000 }, async () => {
    const admin = sim.state.accounts.get(site.admin.accountId)!;
    admin.siteAdmin = false;
    admin.permissions = new Set(GLOBAL_PERMISSIONS);
    admin.projectPermissions = new Map([
      ['SUP', new Set(PROJECT_PERMISSIONS)],
      ['OPS', new Set(PROJECT_PERMISSIONS.filter((p) => p !== 'MODIFY_REPORTER'))],
    ]);
    const [ops] = await feed('ops', 'ops@example.com', 1, { tag: 'ops-reporter' });
    const [sup] = await feed('support', 'support@example.com', 1, { tag: 'sup-reporter' });
    const opsResult = await delivered('ops', ops!);
    const supResult = await delivered('support', sup!);
    if (opsResult.outcome === 'classified' || supResult.outcome === 'classified') throw new Error('classified');
    const alice = site.users.alice.accountId;
    const opsIssue = sim.state.issue(opsResult.issueKey)!;
    expect(opsIssue.projectKey).toBe('OPS');
    expect((opsIssue.fields.reporter as { accountId: string }).accountId).toBe(site.admin.accountId);
    expect(issueText(opsIssue.key)).toMatch(/Alice Agent <alice@acme\.example>.*Modify reporter/);
    expect((sim.state.issue(supResult.issueKey)!.fields.reporter as { accountId: string }).accountId).toBe(alice);
    expect((await readTokenState(redis, prefix)).paused).toBe(false);
  });

  it('a project without Create issues: a few mails fail naming permission and setting, then its breaker holds the rest (delayed, shown degraded on /readyz); the other project keeps delivering; granting the permission resumes it by itself', { timeout: 120_000 }, async () => {
    const admin = sim.state.accounts.get(site.admin.accountId)!;
    admin.siteAdmin = false;
    admin.permissions = new Set(GLOBAL_PERMISSIONS);
    admin.projectPermissions = new Map([
      ['SUP', new Set(PROJECT_PERMISSIONS)],
      ['OPS', new Set(PROJECT_PERMISSIONS.filter((p) => p !== 'CREATE_ISSUES'))],
    ]);
    const opsIssues = () => sim.state.allIssues().filter((i) => i.projectKey === 'OPS').length;
    const opsBefore = opsIssues();
    const ops = await feed('ops', 'ops@example.com', 6, { tag: 'ops-held' });
    const sup = await feed('support', 'support@example.com', 3, { tag: 'sup-free' });
    for (const id of sup) expect(await delivered('support', id)).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    // Until the breaker opens, each refusal fails its job, naming what to grant and where.
    const end = Date.now() + 30_000;
    let states: string[] = [];
    while (Date.now() < end) {
      states = await Promise.all(ops.map(async (id) => (await deliver.getJob(`deliver|ops|${id}`))?.getState() ?? 'missing'));
      if (states.filter((x) => x === 'failed').length === BREAKER_THRESHOLD - 1 && states.filter((x) => x === 'delayed').length === ops.length - BREAKER_THRESHOLD + 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(states.filter((x) => x === 'failed')).toHaveLength(BREAKER_THRESHOLD - 1);
    expect(states.filter((x) => x === 'delayed')).toHaveLength(ops.length - BREAKER_THRESHOLD + 1);
    const failed = (await deliver.getFailed()).filter((j) => j.id?.startsWith('deliver|ops|'));
    for (const j of failed) expect(j.failedReason).toMatch(/CREATE_ISSUES.*project OPS.*mailboxes\[id=ops\]\.deliver\.project/);
    const ready = await breakerCheck(redis, prefix).check();
    expect(ready).toMatchObject({ ok: true, degraded: true, detail: expect.stringMatching(/OPS lacks CREATE_ISSUES \(mailboxes\[id=ops\]\.deliver\.project\)/) });
    expect((await openBreakers(redis, prefix)).map((b) => b.project)).toEqual(['OPS']);
    // Still held while refused: the re-check (every 500 ms here) finds it missing.
    await new Promise((r) => setTimeout(r, 1500));
    expect(opsIssues()).toBe(opsBefore);
    expect(sim.counters.count('getMyPermissions', 200)).toBeGreaterThan(0);
    // Nothing paused: the token works, and the other project delivered meanwhile.
    expect((await readTokenState(redis, prefix)).paused).toBe(false);
    expect(await deliver.isPaused()).toBe(false);
    // Granted: the held mails are delivered without anyone touching them.
    admin.projectPermissions.get('OPS')!.add('CREATE_ISSUES');
    for (const id of ops) {
      const job = await deliver.getJob(`deliver|ops|${id}`);
      if ((await job!.getState()) === 'failed') continue;
      expect(await delivered('ops', id)).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    }
    expect(opsIssues() - opsBefore).toBe(ops.length - BREAKER_THRESHOLD + 1);
    expect(await openBreakers(redis, prefix)).toEqual([]);
    expect((await breakerCheck(redis, prefix).check()).degraded).toBeUndefined();
  });
});
