// Bull Board in a real browser (Debian's Chromium, driven by playwright-core): a person signs
// in with basic auth, sees Mailroom's queues, and retries a failed job from the UI; without
// credentials the page is refused. Jobs are named for their mail, a mail waiting for its
// sender's account reads differently from a retry backoff, and the log tab tells the story. Skips with a notice when /usr/bin/chromium is absent
// (.ci/run installs it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import { identityProvision, jiraDeliver } from '../../src/queues/catalog.js';
import { humanRecord, startInProcess, testMailbox, type InProcessPipeline } from '../helpers/sim-run.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startWorker } from '../../src/station/worker.js';
import { PermanentError, RetryableError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetrics } from '../../src/core/metrics.js';
import { buildWebServer } from '../../src/web/server.js';
import { notice } from '../helpers/corpus.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) notice(`${CHROMIUM} is absent: the Bull Board browser test is skipped (apt-get install -y chromium)`);

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const JOB_ID = 'provision|acme.atlassian.net|retry-me@example.com';
const SCREENSHOTS = process.env.MAILROOM_SCREENSHOT_DIR;

describe.skipIf(!haveChromium)('Bull Board in Chromium', () => {
  const prefix = uniquePrefix('board');
  const redis = testRedis({ forWorker: true });
  const dirs: string[] = [];
  let queue: Queue;
  let app: FastifyInstance;
  let base: string;
  let jira: SeededSim;
  let pipeline: InProcessPipeline;
  let deliverQueue: Queue;
  const extraRedis = [redis];
  const WAITING_SENDER = 'ana.souza@customer-one.test';
  const SUBJECT = 'Printer on floor 3 keeps jamming';

  async function browse(credentials?: { username: string; password: string }): Promise<BrowserContext> {
    const dir = mkdtempSync(join(tmpdir(), 'mailroom-chromium-'));
    dirs.push(dir);
    const ctx = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      httpCredentials: credentials,
    });
    // Hermetic: the board's web fonts and anything else off this machine are not fetched.
    await ctx.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
    return ctx;
  }

  beforeAll(async () => {
    queue = openQueue(identityProvision, { connection: redis, prefix });
    const worker = startWorker(
      identityProvision,
      async () => {
        throw new PermanentError('Jira refused: products invalid');
      },
      { connection: redis, prefix, logger: silentLogger },
    );
    for (const email of ['retry-me@example.com', 'leave-me@example.com']) {
      await addJob(queue, identityProvision, { site: 'acme.atlassian.net', email, mode: 'user', mailboxId: 'support' });
    }
    const end = Date.now() + 15_000;
    while (((await queue.getJobCounts('failed')).failed ?? 0) < 2) {
      if (Date.now() > end) throw new Error('jobs did not fail');
      await new Promise((r) => setTimeout(r, 100));
    }
    await worker.close();

    // A mail from a sender Jira does not know: the resolver asks for an account and parks the
    // mail until it exists. No provisioner runs here, so it keeps waiting, as it would while
    // Jira is slow to create the account.
    jira = await startSeededSim();
    pipeline = await startInProcess({
      redis,
      workerConnection: () => {
        const r = testRedis({ forWorker: true });
        extraRedis.push(r);
        return r;
      },
      prefix,
      mailboxes: [testMailbox({ id: 'support', addresses: ['support@acme.example'], policy: { autoCreate: 'user' } })],
      jira: { url: jira.sim.url, email: jira.site.admin.email, token: jira.site.admin.token },
      logger: silentLogger,
      roles: ['resolver'],
    });
    await pipeline.enqueue([
      {
        mailboxId: 'support',
        origin: { kind: 'file', name: 'printer.eml' },
        record: humanRecord({ from: { address: WAITING_SENDER, name: 'Ana Souza' }, messageId: '<printer-1@customer-one.test>', subject: SUBJECT }),
        receivedAt: new Date().toISOString(),
      },
    ]);
    // A delivery that failed once and waits out its retry backoff (an hour, so it stays put).
    deliverQueue = openQueue(jiraDeliver, { connection: redis, prefix });
    const deliverWorker = startWorker(
      jiraDeliver,
      async () => {
        throw new RetryableError('Jira answered 503 Service Unavailable');
      },
      { connection: redis, prefix, logger: silentLogger, retry: { 'jira-deliver': { attempts: 5, delay: '1h', maxDelay: '2h' } } },
    );
    await addJob(
      deliverQueue,
      jiraDeliver,
      {
        mailboxId: 'support',
        origin: { kind: 'file', name: 'vpn.eml' },
        record: humanRecord({ from: { address: 'bob@partner.example' }, messageId: '<vpn-1@partner.example>', subject: 'VPN drops every 10 minutes' }),
      },
      { 'jira-deliver': { attempts: 5, delay: '1h', maxDelay: '2h' } },
    );
    const until = Date.now() + 20_000;
    while (((await pipeline.queues.mailInbound.getJobCounts('delayed')).delayed ?? 0) < 1 || ((await deliverQueue.getJobCounts('delayed')).delayed ?? 0) < 1) {
      if (Date.now() > until) throw new Error('the mail did not park, or the delivery did not back off');
      await new Promise((r) => setTimeout(r, 100));
    }
    await deliverWorker.close();
    await pipeline.stop();

    app = await buildWebServer({
      redis,
      prefix,
      logger: silentLogger,
      metrics: createMetrics(),
      auth: { mode: 'basic', users: [{ user: 'ops', password: 'board-pass', role: 'admin' }] },
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await app?.close();
    await queue?.close();
    await deliverQueue?.close();
    await jira?.close();
    await dropPrefix(redis, prefix);
    for (const r of extraRedis) r.disconnect();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('refuses the page without credentials', async () => {
    const ctx = await browse();
    try {
      const page = await ctx.newPage();
      // Chromium either shows the 401 or, having no credentials to offer, abandons the
      // navigation with ERR_INVALID_AUTH_CREDENTIALS; both are a refusal.
      const outcome = await page.goto(`${base}/board`).then(
        (res) => `status ${res?.status()}`,
        (e: Error) => e.message,
      );
      expect(outcome).toMatch(/status 401|ERR_INVALID_AUTH_CREDENTIALS/);
    } finally {
      await ctx.close();
    }
  });

  it('signs in, sees every queue, and retries a failed job from the UI', async () => {
    const ctx = await browse({ username: 'ops', password: 'board-pass' });
    try {
      const page = await ctx.newPage();
      const res = await page.goto(`${base}/board`);
      expect(res?.status()).toBe(200);
      for (const name of ['mail-inbound', 'identity-provision', 'jira-deliver', 'mailbox-actions', 'notify']) {
        await page.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
      }
      if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, 'board-overview.png') });

      await page.goto(`${base}/board/queue/identity-provision?status=failed`);
      const card = page.locator('div[class^="card-"]', { hasText: JOB_ID });
      await card.waitFor();
      await card.getByText('Jira refused: products invalid').first().waitFor();
      await card.locator('button:has(svg.lucide-refresh-cw)').first().click();
      // The board may ask to confirm the action.
      const confirm = page.getByRole('button', { name: /^(confirm|retry|yes)$/i });
      if (await confirm.first().isVisible({ timeout: 1000 }).catch(() => false)) await confirm.first().click();
      if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, 'board-after-retry.png') });

      const failedKey = `${prefix}:identity-provision:failed`;
      const end = Date.now() + 10_000;
      while ((await redis.zscore(failedKey, JOB_ID)) !== null) {
        if (Date.now() > end) throw new Error('the job is still in the failed set');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await (await queue.getJob(JOB_ID))!.getState()).toBe('waiting');
      // Only that one: the other failed job is untouched.
      expect(await redis.zscore(failedKey, 'provision|acme.atlassian.net|leave-me@example.com')).not.toBeNull();
    } finally {
      await ctx.close();
    }
  });

  it('names jobs for their mail, tells waiting for an account from a retry backoff, and shows each story', async () => {
    const ctx = await browse({ username: 'ops', password: 'board-pass' });
    try {
      const page = await ctx.newPage();
      // The waiting mail: named for its mailbox, sender and subject, not a hash.
      await page.goto(`${base}/board/queue/mail-inbound?status=delayed`);
      const waiting = page.locator('div[class^="card-"]', { hasText: `support: ${WAITING_SENDER} "${SUBJECT}"` });
      await waiting.waitFor({ timeout: 15_000 });
      await waiting.getByRole('button', { name: /^progress$/i }).or(waiting.getByText(/^progress$/i)).first().click();
      await waiting.getByText(/waiting, not retrying: no attempt is spent/).first().waitFor();
      await waiting.getByText(new RegExp(`the Jira account of ${WAITING_SENDER.replace(/\./g, '\\.')}`)).first().waitFor();
      await waiting.getByRole('button', { name: /^logs?$/i }).or(waiting.getByText(/^logs?$/i)).first().click();
      await waiting.getByText(/provision-queued ana\.souza@customer-one\.test: ok/).first().waitFor();
      await waiting.getByText(/waiting for the Jira account of ana\.souza@customer-one\.test: not a retry/).first().waitFor();
      if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, 'board-waiting-mail.png'), fullPage: true });

      // The delivery in backoff: also named for its mail; its log says it failed and retries.
      await page.goto(`${base}/board/queue/jira-deliver?status=delayed`);
      const backoff = page.locator('div[class^="card-"]', { hasText: 'to Jira from support: bob@partner.example "VPN drops every 10 minutes"' });
      await backoff.waitFor({ timeout: 15_000 });
      await backoff.getByRole('button', { name: /^logs?$/i }).or(backoff.getByText(/^logs?$/i)).first().click();
      await backoff.getByText(/attempt 1 of 5 failed: Jira answered 503 Service Unavailable; retrying after a backoff/).first().waitFor();
      if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, 'board-backoff.png'), fullPage: true });
    } finally {
      await ctx.close();
    }
  });
});
