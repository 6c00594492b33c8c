// The whole pipeline (resolve, provision, deliver, comments, JSM requests, attachments,
// reprocess) with the roles as they run in production, in this process, against the Jira
// simulator twice: with issue properties unindexed (what an API-token client gets on Jira
// Cloud, the simulator's default) and indexed (as if an installed app declared them). Nothing
// may depend on a property search: none is ever refused, and each mail is one issue or comment.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/load.js';
import { DEMO_MAILS } from '../../src/demo/run.js';
import { MESSAGE_PROPERTY, type DeliverResult } from '../../src/deliver/deliverer.js';
import { delivererRole } from '../../src/roles/stations.js';
import { rawMail } from '../helpers/deliver-testkit.js';
import { seedDemo, startJiraSim, type JiraSim } from '../../src/jira-sim/index.js';
import { silentLogger } from '../../src/core/log.js';
import { prepareMail } from '../../src/mail/prepare.js';
import { createMailStore } from '../../src/mail/store.js';
import { siteHost } from '../../src/jira/site.js';
import { provisionerRole, resolverRole } from '../../src/roles/stations.js';
import { reprocessMail } from '../../src/ops/reprocess.js';
import { jiraDeliver, mailInbound } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { createRoleContext, type Stoppable } from '../../src/roles/runtime.js';
import { loadSecretKey } from '../../src/token/key.js';
import { saveToken } from '../../src/token/store.js';
import { dropPrefix, REDIS_URL, testRedis } from '../helpers/redis.js';

describe.each([
  { mode: 'properties unindexed (Jira Cloud for an API token)', indexed: false },
  { mode: 'properties indexed by an app', indexed: true },
])('the pipeline, $mode', ({ indexed }) => {
  const prefix = `{mrtest-pipecloud-${randomBytes(4).toString('hex')}}`;
  const secret = randomBytes(32).toString('base64');
  const redis = testRedis({ forWorker: true });
  let dir: string;
  let sim: JiraSim;
  let config: Config;
  let inbound: Queue;
  let deliver: Queue;
  let ctx: ReturnType<typeof createRoleContext>;
  const running: Stoppable[] = [];
  let uid = 1;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mr-pipecloud-'));
    sim = await startJiraSim(indexed ? { indexedProperties: 'all' } : {});
    const site = seedDemo(sim);
    const file = join(dir, 'mailroom.yml');
    writeFileSync(
      file,
      [
        `jira: { site: "${sim.url}" }`,
        `store: { kind: fs, dir: "${join(dir, 'mail')}" }`,
        'mailboxes:',
        '  - id: support',
        '    addresses: [support@example.com]',
        '    policy: { autoCreate: user, products: [jira-software], groups: [support-customers] }',
        '    deliver: { project: SUP, issueType: Task }',
        '  - id: helpdesk',
        '    addresses: [help@example.com]',
        '    policy: { autoCreate: customer, serviceDeskId: "1" }',
        '    deliver: { serviceDeskId: "1", requestTypeId: "10", project: HD }',
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
    for (const start of [resolverRole(), provisionerRole(), delivererRole({ recoverySettleMs: 300, recoveryWindowMs: 1_000 })]) running.push(await start(ctx));
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

  /** Feed a mail as the poller does (IMAP origin, arrived now); its Message-ID. */
  async function feed(raw: Buffer, mailboxId: string): Promise<string> {
    const record = await prepareMail(raw, createMailStore(config, redis));
    const origin = { kind: 'imap' as const, uidvalidity: '1', uid: uid++, internalDate: new Date().toISOString() };
    await addJob(inbound, mailInbound, { mailboxId, origin, record, receivedAt: new Date().toISOString() }, config.queues);
    return record.messageId!;
  }

  async function delivered(mailboxId: string, messageId: string, since = 0): Promise<DeliverResult> {
    const end = Date.now() + 45_000;
    while (Date.now() < end) {
      const id = `deliver|${mailboxId}|${messageId}`;
      const job: Job | undefined = await deliver.getJob(id);
      if (job && job.timestamp >= since) {
        const state = await job.getState();
        // Read again: the job fetched above may predate its completion (no return value yet).
        if (state === 'completed') return (await deliver.getJob(id))!.returnvalue as DeliverResult;
        if (state === 'failed') throw new Error(`delivery failed: ${job.failedReason}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const failed = await inbound.getFailed();
    throw new Error(`timed out waiting for ${messageId}: ${JSON.stringify(await inbound.getJobCounts())} ${JSON.stringify(await deliver.getJobCounts())} ${failed.map((j) => j.failedReason).join('; ')}`);
  }

  it('new senders get accounts; mails become issues, a reply a comment, attachments arrive, a JSM mail a request; reprocess adds nothing', { timeout: 120_000 }, async () => {
    const demo = (f: string) => readFileSync(join(DEMO_MAILS, f));
    const printer = await feed(demo('01-new-customer-printer.eml'), 'support');
    expect(await delivered('support', printer)).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    const html = await feed(demo('07-html-with-attachment.eml'), 'support');
    expect(await delivered('support', html)).toMatchObject({ outcome: 'delivered', kind: 'issue', uploaded: 1 });
    const reply = await feed(demo('08-reply-from-ana.eml'), 'support');
    expect(await delivered('support', reply)).toMatchObject({ outcome: 'delivered', kind: 'comment' });
    const jsm = await feed(
      rawMail({ from: 'Dana New <dana.new@customer-three.test>', to: 'help@example.com', subject: 'Laptop will not boot', messageId: 'jsm-pipe@customer-three.test', text: 'Since this morning.' }),
      'helpdesk',
    );
    expect(await delivered('helpdesk', jsm)).toMatchObject({ outcome: 'delivered', kind: 'request', issueKey: 'HD-1' });

    const issues = sim.state.allIssues();
    expect(issues.map((i) => i.key).sort()).toEqual(['HD-1', 'SUP-1', 'SUP-2']);
    expect(issues.every((i) => (i.properties.get(MESSAGE_PROPERTY) as { complete?: boolean }).complete === true)).toBe(true);
    expect(issues.reduce((n, i) => n + i.comments.length, 0)).toBe(1);
    expect(sim.state.issue('SUP-2')!.attachments).toHaveLength(1);
    const dana = sim.state.accountsByEmail('dana.new@customer-three.test')[0];
    expect(dana?.accountType).toBe('customer');
    expect((sim.state.issue('HD-1')!.fields.reporter as { accountId: string }).accountId).toBe(dana!.accountId);

    // Run a delivered mail again: it is found, not made again, nothing uploaded twice.
    const since = Date.now();
    await reprocessMail({ redis, prefix, mailboxIds: ['support', 'helpdesk'], site: siteHost(config.jira.site), retry: config.queues }, { messageId: html });
    expect(await delivered('support', html, since)).toMatchObject({ issueKey: 'SUP-2' });
    expect(sim.state.allIssues()).toHaveLength(3);
    expect(sim.state.issue('SUP-2')!.attachments).toHaveLength(1);

    // No step ever asked Jira a question it refuses on a real site.
    expect(sim.counters.count('searchAndReconsileIssuesUsingJqlPost', 400)).toBe(0);
    expect(sim.counters.violations()).toBe(0);
  });
});
