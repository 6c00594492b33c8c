// The web role over real HTTP and a real Redis: probes, metrics, and Bull Board behind auth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { identityProvision } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startWorker } from '../../src/station/worker.js';
import { PermanentError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetrics } from '../../src/core/metrics.js';
import { buildWebServer } from '../../src/web/server.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { freePort } from '../../src/ops/own-redis.js';

const ROOT = resolve(import.meta.dirname, '../..');
const prefix = uniquePrefix('web');
const redis = testRedis({ forWorker: true });
const basic = (u: string, p: string) => ({ authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') });
const ADMIN = basic('ops', 'correct horse');
const VIEWER = basic('look', 'battery staple');

let app: FastifyInstance;
let base: string;
let queue: Queue;
const metrics = createMetrics();
let tokenOk = true;

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  queue = openQueue(identityProvision, { connection: redis, prefix });
  const worker = startWorker(
    identityProvision,
    async (d) => {
      if (d.email.startsWith('bad')) throw new PermanentError('refused by policy');
      return 'ok';
    },
    { connection: redis, prefix, logger: silentLogger },
  );
  for (const email of ['bad1@example.com', 'bad2@example.com', 'good@example.com']) {
    await addJob(queue, identityProvision, { site: 'acme.atlassian.net', email, mode: 'user', mailboxId: 'support' });
  }
  await until('two failures', async () => (await queue.getJobCounts('failed')).failed === 2 && (await queue.getJobCounts('completed')).completed === 1);
  await worker.close();

  app = await buildWebServer({
    redis,
    prefix,
    logger: silentLogger,
    metrics,
    auth: {
      mode: 'basic',
      users: [
        { user: 'ops', password: 'correct horse', role: 'admin' },
        { user: 'look', password: 'battery staple', role: 'viewer' },
      ],
    },
    checks: [{ name: 'token', check: async () => (tokenOk ? { ok: true } : { ok: false, detail: 'token revoked (401 from /myself)' }) }],
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  await queue.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('probes', () => {
  it('/healthz says alive', async () => {
    const r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ok' });
  });

  it('/readyz lists each check and turns 503 naming the one that failed', async () => {
    const ok = await fetch(`${base}/readyz`);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { ready: boolean; checks: { name: string; ok: boolean }[] };
    expect(body.ready).toBe(true);
    expect(body.checks.map((c) => [c.name, c.ok])).toEqual([
      ['redis', true],
      ['token', true],
    ]);
    tokenOk = false;
    try {
      const bad = await fetch(`${base}/readyz`);
      expect(bad.status).toBe(503);
      const b = (await bad.json()) as { ready: boolean; checks: { name: string; ok: boolean; detail?: string }[] };
      expect(b.ready).toBe(false);
      expect(b.checks.find((c) => c.name === 'token')).toMatchObject({ ok: false, detail: 'token revoked (401 from /myself)' });
      expect(b.checks.find((c) => c.name === 'redis')).toMatchObject({ ok: true });
    } finally {
      tokenOk = true;
    }
  });

  it('/metrics exports queue counts by state and the counters others increment', async () => {
    metrics.jiraRequests.inc({ operation: 'user.search', status: '200' }, 3);
    metrics.jiraRequests.inc({ operation: 'user.create', status: '429' });
    metrics.jiraRateLimited.inc({ operation: 'user.create' });
    metrics.cacheLookups.inc({ result: 'hit' }, 3);
    metrics.cacheLookups.inc({ result: 'miss' }, 1);
    metrics.accountsCreated.inc({ mode: 'user' });
    metrics.tokenDaysToExpiry.set(42);
    metrics.mailboxHeartbeatAge.set({ mailbox: 'support' }, 3);
    const r = await fetch(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/plain');
    const text = await r.text();
    expect(text).toContain('mailroom_queue_jobs{queue="identity-provision",state="failed"} 2');
    expect(text).toContain('mailroom_queue_jobs{queue="identity-provision",state="completed"} 1');
    expect(text).toContain('mailroom_queue_jobs{queue="mail-inbound",state="waiting"} 0');
    expect(text).toContain('mailroom_jira_requests_total{operation="user.search",status="200"} 3');
    expect(text).toContain('mailroom_jira_rate_limited_total{operation="user.create"} 1');
    expect(text).toContain('mailroom_cache_hit_ratio 0.75');
    expect(text).toContain('mailroom_accounts_created_total{mode="user"} 1');
    expect(text).toContain('mailroom_token_days_to_expiry 42');
    expect(text).toContain('mailroom_mailbox_heartbeat_age_seconds{mailbox="support"} 3');
    expect(text).toContain('# TYPE mailroom_job_duration_seconds histogram');
  });
});

describe('/board', () => {
  it('is refused without credentials, or with wrong ones, and asks for basic auth', async () => {
    for (const headers of [{}, basic('ops', 'wrong'), basic('nobody', 'correct horse')]) {
      for (const path of ['/board', '/board/api/queues', '/view']) {
        const r = await fetch(`${base}${path}`, { headers });
        expect(r.status, path).toBe(401);
        expect(r.headers.get('www-authenticate')).toContain('Basic realm="Mailroom"');
      }
    }
  });

  it('serves the board and its API to the admin, over every queue', async () => {
    const page = await fetch(`${base}/board`, { headers: ADMIN });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<base href="/board/"');
    const api = await fetch(`${base}/board/api/queues?activeQueue=identity-provision&status=failed`, { headers: ADMIN });
    const body = (await api.json()) as { queues: { name: string; readOnlyMode: boolean; counts: Record<string, number> }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['identity-provision', 'jira-deliver', 'mail-inbound', 'mailbox-actions', 'notify', 'respond']);
    expect(body.queues.find((q) => q.name === 'identity-provision')).toMatchObject({ readOnlyMode: false, counts: { failed: 2 } });
  });

  it('sends a viewer to the read-only board, which refuses every change', async () => {
    const r = await fetch(`${base}/board/queue/identity-provision`, { headers: VIEWER, redirect: 'manual' });
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('/view/queue/identity-provision');
    const view = await fetch(`${base}/view/api/queues`, { headers: VIEWER });
    expect(view.status).toBe(200);
    const body = (await view.json()) as { queues: { readOnlyMode: boolean }[] };
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    const id = encodeURIComponent('provision|acme.atlassian.net|bad1@example.com');
    for (const url of [`${base}/view/api/queues/identity-provision/${id}/retry`, `${base}/board/api/queues/identity-provision/${id}/retry`]) {
      const change = await fetch(url, { method: 'PUT', headers: VIEWER });
      expect(change.status, url).toBe(403);
    }
    expect(await (await queue.getJob('provision|acme.atlassian.net|bad1@example.com'))!.getState()).toBe('failed');
  });

  it('lets the admin retry a failed job through the board API (ids with "|")', async () => {
    const id = 'provision|acme.atlassian.net|bad2@example.com';
    const r = await fetch(`${base}/board/api/queues/identity-provision/${encodeURIComponent(id)}/retry`, { method: 'PUT', headers: ADMIN });
    expect(r.status).toBe(204);
    expect(await (await queue.getJob(id))!.getState()).toBe('waiting');
  });
});

describe('/readyz when Redis stops', () => {
  let server: ChildProcess | undefined;
  let own: Redis | undefined;
  let app2: FastifyInstance | undefined;
  afterAll(async () => {
    await app2?.close().catch(() => undefined);
    own?.disconnect();
    server?.kill('SIGKILL');
  });

  it('turns 503 within seconds, naming the redis check, and ready again when it is back', async () => {
    const port = await freePort();
    const start = () =>
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    server = start();
    own = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(n * 50, 500) });
    own.on('error', () => undefined);
    await until('own redis', async () => own!.status === 'ready');
    app2 = await buildWebServer({ redis: own, prefix, logger: silentLogger, metrics: createMetrics(), auth: { mode: 'none' } });
    const url = `${await app2.listen({ host: '127.0.0.1', port: 0 })}/readyz`;
    expect((await fetch(url)).status).toBe(200);

    server.kill('SIGTERM');
    const stoppedAt = Date.now();
    let body: { ready: boolean; checks: { name: string; ok: boolean; detail?: string }[] } | undefined;
    await until('readyz 503', async () => {
      const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
      body = (await r.json()) as typeof body;
      return r.status === 503;
    });
    process.stderr.write(`readyz turned 503 ${Date.now() - stoppedAt} ms after Redis stopped\n`);
    expect(body!.checks.find((c) => c.name === 'redis')).toMatchObject({ ok: false });
    // /healthz stays up: restarting the web role would not bring Redis back.
    expect((await fetch(url.replace('readyz', 'healthz'), { signal: AbortSignal.timeout(5000) })).status).toBe(200);
    // /metrics still answers (last values) while Redis is away.
    expect((await fetch(url.replace('readyz', 'metrics'), { signal: AbortSignal.timeout(8000) })).status).toBe(200);

    server = start();
    await until('readyz 200 again', async () => (await fetch(url, { signal: AbortSignal.timeout(5000) })).status === 200);
  });
});

describe('workers/web.ts', () => {
  it('refuses to start without credentials, and says how to fix it', { timeout: 150_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailroom-web-'));
    const cfg = join(dir, 'mailroom.yml');
    writeFileSync(cfg, 'jira:\n  site: http://127.0.0.1:9\nmailboxes:\n  - id: support\nweb:\n  host: 0.0.0.0\n  port: 0\n');
    const env: NodeJS.ProcessEnv = { ...process.env, MAILROOM_PREFIX: prefix };
    delete env.MAILROOM_WEB_USER;
    delete env.MAILROOM_WEB_PASSWORD;
    delete env.MAILROOM_WEB_PROXY_HEADER;
    try {
      const r = await new Promise<{ code: number; stderr: string }>((done) =>
        execFile(process.execPath, ['--import', 'tsx', 'workers/web.ts', '--config', cfg, '--no-auth'], { cwd: ROOT, env, timeout: 120_000 }, (e, _o, stderr) =>
          done({ code: e ? (e.killed ? -1 : Number((e as { code?: number }).code)) : 0, stderr }),
        ),
      );
      expect(r.code).toBe(2); // a person must fix it, like a bad configuration (docs/exit-codes.md)
      expect(r.stderr).toContain('--no-auth is allowed only when bound to loopback');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
