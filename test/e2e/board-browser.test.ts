// Bull Board in a real browser (Debian's Chromium, driven by playwright-core): a person signs
// in with basic auth, sees Mailroom's queues, and retries a failed job from the UI; without
// credentials the page is refused. Skips with a notice when /usr/bin/chromium is absent
// (.ci/run installs it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import { identityProvision } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startWorker } from '../../src/queues/worker.js';
import { PermanentError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { createMetrics } from '../../src/ops/metrics.js';
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
    await dropPrefix(redis, prefix);
    redis.disconnect();
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
});
