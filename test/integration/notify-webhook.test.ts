// POST /webhooks/jira on the real web server over HTTP, with real Redis: only a body signed
// with the webhook secret is queued; the same delivery replayed is queued once; events and
// projects without a rule queue nothing; the board behind it still asks for credentials.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { silentLogger } from '../../src/core/log.js';
import type { NotificationRule } from '../../src/notify/events.js';
import { signBody } from '../../src/notify/signature.js';
import { notify } from '../../src/queues/catalog.js';
import { openQueue } from '../../src/queues/queue.js';
import { buildWebServer } from '../../src/web/server.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const SECRET = 'whsec-test-5f1c2a9e7b';
const RULES: NotificationRule[] = [
  { project: 'SUP', events: ['issue_created', 'comment_created'], groups: ['support-agents'], users: ['lead@acme.example'] },
  { project: 'SUP', events: ['issue_created'], groups: ['managers'], users: [] },
];

let redis: Redis;
let prefix: string;
let app: FastifyInstance;
let noSecretApp: FastifyInstance;
let base: string;
let noSecretBase: string;
let queue: Queue;

async function listen(a: FastifyInstance): Promise<string> {
  await a.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${(a.server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  redis = testRedis();
  prefix = uniquePrefix('notify-webhook');
  const common = { redis, prefix, logger: silentLogger, auth: { mode: 'basic' as const, users: [{ user: 'ops', password: 'ops-password-1', role: 'admin' as const }] } };
  app = await buildWebServer({ ...common, webhook: { secret: SECRET, rules: RULES } });
  noSecretApp = await buildWebServer({ ...common, webhook: { secret: undefined, rules: RULES } });
  base = await listen(app);
  noSecretBase = await listen(noSecretApp);
  queue = openQueue(notify, { connection: redis, prefix });
});
afterAll(async () => {
  await queue.close();
  await app.close();
  await noSecretApp.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});
beforeEach(async () => {
  await queue.obliterate({ force: true });
});

function issueEvent(o: { event?: string; key?: string; project?: string; timestamp?: number; comment?: string } = {}): string {
  const key = o.key ?? 'SUP-7';
  return JSON.stringify({
    timestamp: o.timestamp ?? Date.now(),
    webhookEvent: o.event ?? 'jira:issue_created',
    issue: { id: '10007', key, fields: { summary: 'VPN drops every hour', project: { key: o.project ?? key.split('-')[0] } } },
    ...(o.comment ? { comment: { id: o.comment, body: 'me too' } } : {}),
  });
}

async function post(body: string, headers: Record<string, string>, to = base): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${to}/webhooks/jira`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const jobs = async () => queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized']);

describe('POST /webhooks/jira', () => {
  it('refuses a missing, malformed or wrong signature with 401 and queues nothing', async () => {
    const body = issueEvent();
    const other = issueEvent({ key: 'SUP-8' });
    for (const headers of <Record<string, string>[]>[
      {},
      { 'x-hub-signature': 'sha256=nothex' },
      { 'x-hub-signature': signBody('another-secret', body) },
      { 'x-hub-signature': signBody(SECRET, other) },
      { 'x-hub-signature': signBody(SECRET, body + ' ') },
    ]) {
      const r = await post(body, headers);
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.json.error).toBe('unauthorized');
    }
    expect(await jobs()).toHaveLength(0);
  });

  it('refuses everything when no secret is configured', async () => {
    const body = issueEvent();
    expect((await post(body, { 'x-hub-signature': signBody('', body) }, noSecretBase)).status).toBe(401);
    expect(await jobs()).toHaveLength(0);
  });

  it('queues one job for a signed event, with the recipients of every matching rule; a replay queues nothing more', async () => {
    const body = issueEvent();
    const headers = { 'x-hub-signature': signBody(SECRET, body), 'x-atlassian-webhook-identifier': 'delivery-0001' };
    const first = await post(body, headers);
    expect(first.status).toBe(202);
    expect(first.json).toMatchObject({ queued: true, duplicate: false });
    const replay = await post(body, { ...headers, 'x-atlassian-webhook-retry': '1' });
    expect(replay.status).toBe(200);
    expect(replay.json).toMatchObject({ queued: false, duplicate: true, jobId: first.json.jobId });

    const all = await jobs();
    expect(all).toHaveLength(1);
    expect(all[0]!.id).toBe(first.json.jobId);
    expect(all[0]!.data).toMatchObject({
      issueKey: 'SUP-7',
      event: 'issue_created',
      groups: ['support-agents', 'managers'],
      users: ['lead@acme.example'],
      summary: 'VPN drops every hour',
    });
    expect(all[0]!.data.eventId).not.toContain('delivery-0001');
  });

  it('a signed body replayed with new delivery ids (unsigned) queues one job, even after that job is gone', async () => {
    const body = issueEvent({ timestamp: Date.now() - 5_000 });
    const sig = signBody(SECRET, body);
    expect((await post(body, { 'x-hub-signature': sig, 'x-atlassian-webhook-identifier': 'a-1' })).status).toBe(202);
    for (const id of ['a-2', 'a-3']) {
      const r = await post(body, { 'x-hub-signature': sig, 'x-atlassian-webhook-identifier': id });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ queued: false, duplicate: true });
    }
    expect(await jobs()).toHaveLength(1);
    // The job done and removed: the body is still recognised within the window.
    await queue.obliterate({ force: true });
    expect((await post(body, { 'x-hub-signature': sig, 'x-atlassian-webhook-identifier': 'a-4' })).json).toMatchObject({ duplicate: true });
    expect(await jobs()).toHaveLength(0);
  });

  it('refuses a signed body whose timestamp is outside the freshness window, or that has none', async () => {
    const old = issueEvent({ key: 'SUP-9', timestamp: Date.now() - 2 * 3_600_000 });
    const r = await post(old, { 'x-hub-signature': signBody(SECRET, old) });
    expect(r.status).toBe(400);
    expect(String(r.json.detail)).toMatch(/more than 60 minutes old: refused as a replay/);
    const none = JSON.stringify({ webhookEvent: 'jira:issue_created', issue: { key: 'SUP-9', fields: { project: { key: 'SUP' } } } });
    expect((await post(none, { 'x-hub-signature': signBody(SECRET, none) })).json.detail).toMatch(/no timestamp/);
    expect(await jobs()).toHaveLength(0);
  });

  it('queues one job per comment, and nothing for events or projects without a rule', async () => {
    for (const body of [issueEvent({ event: 'comment_created', comment: '501' }), issueEvent({ event: 'comment_created', comment: '502' })]) {
      expect((await post(body, { 'x-hub-signature': signBody(SECRET, body) })).status).toBe(202);
    }
    for (const body of [issueEvent({ event: 'jira:issue_updated' }), issueEvent({ event: 'jira:issue_deleted' }), issueEvent({ key: 'OPS-3' })]) {
      const r = await post(body, { 'x-hub-signature': signBody(SECRET, body) });
      expect(r.status).toBe(200);
      expect(r.json.queued).toBe(false);
    }
    const all = await jobs();
    expect(all).toHaveLength(2);
    expect(all.map((j) => j.data.event)).toEqual(['comment_created', 'comment_created']);
  });

  it('answers 400 to a signed body that is not JSON or names no issue', async () => {
    const notJson = 'webhookEvent=jira:issue_created';
    expect((await post(notJson, { 'x-hub-signature': signBody(SECRET, notJson) })).status).toBe(400);
    const noIssue = JSON.stringify({ webhookEvent: 'jira:issue_created', timestamp: 1 });
    expect((await post(noIssue, { 'x-hub-signature': signBody(SECRET, noIssue) })).status).toBe(400);
    expect(await jobs()).toHaveLength(0);
  });

  it('leaves the rest of the server as it was: the board still asks for credentials', async () => {
    expect((await fetch(`${base}/board`)).status).toBe(401);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});
