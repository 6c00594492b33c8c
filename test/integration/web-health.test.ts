// /readyz and /metrics over the token's and the mailboxes' real state in Redis, written by
// their own modules (token store and gate, poller heartbeats).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../../src/core/log.js';
import { createMetrics } from '../../src/core/metrics.js';
import { heartbeatSource, mailboxChecks, tokenCheck, tokenSource } from '../../src/ops/health.js';
import { buildWebServer } from '../../src/web/server.js';
import { loadSecretKey } from '../../src/token/key.js';
import { saveToken } from '../../src/token/store.js';
import { openTokenQueues, tripGate } from '../../src/token/gate.js';
import { writeHeartbeat } from '../../src/imap/heartbeat.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('webhealth');
const redis = testRedis();
const STALE_MS = 1500;
let app: FastifyInstance;
let base: string;
const metrics = createMetrics();

type Report = { ready: boolean; checks: { name: string; ok: boolean; detail?: string }[] };
async function readyz(): Promise<{ status: number; body: Report }> {
  const r = await fetch(`${base}/readyz`);
  return { status: r.status, body: (await r.json()) as Report };
}
const check = (b: Report, name: string) => b.checks.find((c) => c.name === name);

beforeAll(async () => {
  await redis.ping(); // connected: the redis check reports a connection still opening as not ready
  app = await buildWebServer({
    redis,
    prefix,
    logger: silentLogger,
    metrics,
    auth: { mode: 'none' },
    checks: [tokenCheck(redis, prefix), ...mailboxChecks(redis, prefix, ['support', 'sales'], STALE_MS)],
    scrapeSources: [tokenSource(redis, prefix), heartbeatSource(redis, prefix, ['support', 'sales'])],
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('/readyz with token and mailboxes', () => {
  it('is unready with no token stored and no poller, naming each', async () => {
    const { status, body } = await readyz();
    expect(status).toBe(503);
    expect(check(body, 'redis')).toMatchObject({ ok: true });
    expect(check(body, 'token')).toMatchObject({ ok: false, detail: expect.stringContaining('no workaround token is stored') });
    expect(check(body, 'mailbox:support')).toMatchObject({ ok: false, detail: 'no poller has reported for this mailbox' });
  });

  it('is ready with a valid token and fresh heartbeats; metrics show days left and heartbeat age', async () => {
    const key = loadSecretKey({ base64: randomBytes(32).toString('base64') });
    const now = new Date();
    await saveToken(redis, prefix, key, {
      token: 'ATATT-not-a-real-token-0123456789',
      email: 'bot@example.com',
      accountId: 'acc-1',
      storedAt: now,
      expiresAt: new Date(now.getTime() + 40 * 86_400_000),
    });
    await writeHeartbeat(redis, prefix, { mailboxId: 'support', state: 'idle' });
    await writeHeartbeat(redis, prefix, { mailboxId: 'sales', state: 'idle' });
    const { status, body } = await readyz();
    expect(body.checks.filter((c) => !c.ok)).toEqual([]);
    expect(status).toBe(200);
    expect(check(body, 'token')!.detail).toMatch(/^(39|40) days left$/);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/mailroom_token_days_to_expiry (39|40)\b/);
    expect(text).toContain('mailroom_token_valid 1');
    expect(text).toMatch(/mailroom_mailbox_heartbeat_age_seconds\{mailbox="support"\} 0(\.\d+)?\n/);
  });

  it('turns unready when a mailbox poller stops or goes quiet, naming the mailbox', async () => {
    await writeHeartbeat(redis, prefix, { mailboxId: 'sales', state: 'stopped', lastError: 'connection closed by server' });
    let r = await readyz();
    expect(r.status).toBe(503);
    expect(check(r.body, 'mailbox:sales')).toMatchObject({ ok: false, detail: 'its poller stopped (last error: connection closed by server)' });
    expect(check(r.body, 'mailbox:support')).toMatchObject({ ok: true });
    await new Promise((res) => setTimeout(res, STALE_MS + 300));
    r = await readyz();
    expect(check(r.body, 'mailbox:support')).toMatchObject({ ok: false, detail: expect.stringMatching(/^no heartbeat since /) });
    await writeHeartbeat(redis, prefix, { mailboxId: 'support', state: 'idle' });
    await writeHeartbeat(redis, prefix, { mailboxId: 'sales', state: 'idle', lastError: '' });
    expect((await readyz()).status).toBe(200);
  });

  it('turns unready when a mailbox is parked, though its heartbeat is fresh, and ready again once it reconnects', async () => {
    await writeHeartbeat(redis, prefix, { mailboxId: 'support', state: 'idle' });
    await writeHeartbeat(redis, prefix, {
      mailboxId: 'sales',
      state: 'parked',
      lastError: 'authentication failed for bot@example.com',
      nextAttemptAt: '2026-11-28T23:00:00.000Z',
    });
    let r = await readyz();
    expect(r.status).toBe(503);
    expect(check(r.body, 'mailbox:sales')).toMatchObject({
      ok: false,
      detail: 'parked: the server keeps refusing the login (last error: authentication failed for bot@example.com); next attempt at 2026-11-28T23:00:00.000Z',
    });
    expect(check(r.body, 'mailbox:support')).toMatchObject({ ok: true, detail: 'idle' });
    // Prometheus sees it too: one state at 1 per mailbox, the others at 0.
    let text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain('mailroom_mailbox_state{mailbox="sales",state="parked"} 1\n');
    expect(text).toContain('mailroom_mailbox_state{mailbox="sales",state="idle"} 0\n');
    expect(text).toContain('mailroom_mailbox_state{mailbox="support",state="idle"} 1\n');
    expect(text.match(/^mailroom_mailbox_state\{mailbox="sales",state="\w+"\} 1$/gm)).toHaveLength(1);
    await writeHeartbeat(redis, prefix, { mailboxId: 'sales', state: 'idle', lastError: '', nextAttemptAt: '' });
    r = await readyz();
    expect(r.status).toBe(200);
    expect(check(r.body, 'mailbox:sales')).toMatchObject({ ok: true, detail: 'idle' });
    text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain('mailroom_mailbox_state{mailbox="sales",state="parked"} 0\n');
    expect(text).toContain('mailroom_redis_up 1\n');
    expect(text).toMatch(/^mailroom_build_info\{version="\d[^"]*",commit="[^"]+",node="\d[^"]*"\} 1$/m);
  });

  it('turns unready when the token is refused and its queues paused', async () => {
    const queues = openTokenQueues(redis, prefix);
    try {
      await tripGate(redis, prefix, queues, { reason: 'Jira answered 401 to /myself' });
      const r = await readyz();
      expect(r.status).toBe(503);
      expect(check(r.body, 'token')).toMatchObject({ ok: false, detail: expect.stringContaining('Jira answered 401 to /myself') });
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toContain('mailroom_token_valid 0');
      expect(text).toContain('mailroom_queue_paused{queue="mail-inbound"} 1');
    } finally {
      await Promise.all(queues.map((q) => q.close()));
    }
  });
});
