// `mailroom status` as an operator runs it (a subprocess): beyond counts it says whether a
// worker consumes each queue, why jobs wait (an account, a retry backoff, Retry-After, a pause),
// whether Jira answers, the token's days left with a warning inside token.warnBeforeExpiry, and
// it exits 1 with the command that lists failed jobs when there are some.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { createJiraReachRecorder } from '../../src/jira/reach.js';
import { storeAdminToken } from '../helpers/jira-sim.js';
import { dropPrefix, REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { runCli, type CliRun as Run } from '../helpers/cli.js';

const prefix = uniquePrefix('clistatus');
const redis = testRedis({ forWorker: true });
const secretKey = randomBytes(32).toString('base64');
// Nothing listens on port 9: the site is only named, never called by status.
const SITE = 'http://127.0.0.1:9';
let dir: string;
let configFile: string;
const queues: Record<string, Queue> = {};
let worker: Worker | undefined;


function cli(...args: string[]): Promise<Run> {
  return runCli(args, { config: configFile, env: { ...process.env, MAILROOM_PREFIX: prefix, REDIS_URL, MAILROOM_SECRET_KEY: secretKey, MAILROOM_SECRET_KEY_FILE: '' }, timeoutMs: 150_000 });
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never happened: ${what}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mr-status-'));
  configFile = join(dir, 'mailroom.yml');
  writeFileSync(configFile, [`jira:`, `  site: ${SITE}`, 'token:', '  warnBeforeExpiry: 30d', 'mailboxes:', '  - id: support', ''].join('\n'));
  for (const name of ['mail-inbound', 'identity-provision', 'jira-deliver', 'mailbox-actions', 'notify']) {
    queues[name] = new Queue(name, { connection: redis, prefix });
  }
  // A token 5 days from expiry, inside the 30-day warning.
  await storeAdminToken(redis, prefix, secretKey, { admin: { email: 'bot@acme.example', token: 'tok-status-test', accountId: 'acc-1' } }, 5);

  // mail-inbound: a mail parked while its sender's account is being made (as the resolver parks it).
  await queues['mail-inbound']!.add('m', { pipeline: { v: 1, passes: 1, people: [{ email: 'ann@customer.example', role: 'sender', status: 'pending' }] } }, { jobId: 'support:1:1', delay: 600_000 });

  // identity-provision: a worker consumes it; one job failed for good.
  worker = new Worker(
    'identity-provision',
    async (job) => {
      if (job.name === 'retry') throw new Error('Jira createIssue failed with 503');
      throw new Error('Jira group "no-such-group" does not exist');
    },
    { connection: redis, prefix },
  );
  await queues['identity-provision']!.add('doomed', { email: 'x@example.com' }, { jobId: 'provision|site|x@example.com', attempts: 1 });
  await until('a failed job', async () => (await queues['identity-provision']!.getJobCounts('failed')).failed === 1);
  // jira-deliver: a job in retry backoff after its first attempt failed (its worker is gone since).
  const retrying = new Worker('jira-deliver', async () => {
    throw new Error('Jira createIssue failed with 503');
  }, { connection: redis, prefix });
  await queues['jira-deliver']!.add('d', { n: 1 }, { jobId: 'deliver-1', attempts: 5, backoff: { type: 'fixed', delay: 600_000 } });
  await until('a job in backoff', async () => (await queues['jira-deliver']!.getJobCounts('delayed')).delayed === 1);
  await retrying.close();

  // notify: paused by hand, with a job waiting.
  await queues.notify!.pause();
  await queues.notify!.add('n', { n: 1 });
  // mailbox-actions: Jira asked everyone to wait (the shared gate and the queue's rate limit).
  await queues['mailbox-actions']!.add('a', { n: 1 });
  await queues['mailbox-actions']!.rateLimit(600_000);
  await redis.set(`${prefix}:jira:retry-after:127.0.0.1_9`, String(Date.now() + 600_000), 'PX', 600_000);

  // The last Jira call any role made got no answer.
  let clock = Date.now() - 60_000;
  const reach = createJiraReachRecorder({ redis, prefix, url: SITE, now: () => clock });
  reach.observe({ operation: 'findUsers', status: 200 });
  await reach.flush();
  clock += 30_000;
  reach.observe({ operation: 'findUsers', status: 0, error: 'ECONNREFUSED' });
  await reach.flush();
}, 120_000);

afterAll(async () => {
  await worker?.close();
  await Promise.all(Object.values(queues).map((q) => q.close()));
  await dropPrefix(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

interface StatusJson {
  activity: { queue: string; workers?: number; consuming: boolean; paused: boolean; rateLimitedMs: number; delayed: { kind: string; count: number; example: string }[] }[];
  retryAfterMs: number;
  jira: { reachable: boolean; url: string; lastError: string; errors: number; calls: number; verdict: { ok: boolean; detail: string } };
  token: { daysLeft: number; expiry: { level: string; daysLeft: number; warnBeforeExpiry: string } };
  failed: { total: number; command: string; byQueue: { queue: string; failed: number; command: string }[] };
}

describe('mailroom status', () => {
  it('says who consumes each queue, why jobs wait, whether Jira answers, the token days left, and the failed jobs', { timeout: 200_000 }, async () => {
    const [json, human] = await Promise.all([cli('status', '--json'), cli('status')]);
    expect(json.code, json.stderr).toBe(1);
    expect(human.code).toBe(1);
    const s = JSON.parse(json.stdout) as StatusJson;
    const of = (q: string) => s.activity.find((a) => a.queue === q)!;

    // Workers: identity-provision has one; the rest none (or paused / rate limited).
    expect(of('identity-provision')).toMatchObject({ workers: 1, consuming: true });
    expect(of('mail-inbound')).toMatchObject({ workers: 0, consuming: false });
    // Why delayed jobs wait.
    expect(of('mail-inbound').delayed).toEqual([{ kind: 'waiting-for-account', count: 1, example: 'waiting for the account of ann@customer.example' }]);
    expect(of('jira-deliver').delayed).toEqual([
      { kind: 'backoff', count: 1, example: 'retry backoff after attempt 1: Jira createIssue failed with 503' },
    ]);
    expect(of('notify')).toMatchObject({ paused: true, consuming: false });
    expect(of('mailbox-actions').rateLimitedMs).toBeGreaterThan(0);
    expect(s.retryAfterMs).toBeGreaterThan(0);
    expect(human.stdout).toMatch(/^notify\s+0\s+NO\s+paused by hand/m);
    expect(human.stdout).toMatch(/^mailbox-actions\s+0\s+NO\s+Jira's Retry-After: \d+ s left/m);
    expect(human.stdout).toMatch(/^mail-inbound\s+0\s+NO\s+Jira's Retry-After: \d+ s left; NO WORKER consumes this queue: start its role; 1 delayed: waiting for the account of ann@customer\.example/m);
    expect(human.stdout).toMatch(/^identity-provision\s+1\s+yes/m);

    // Jira: the latest call got no answer.
    expect(s.jira).toMatchObject({ reachable: false, url: SITE, calls: 2, errors: 1, verdict: { ok: false } });
    expect(s.jira.lastError).toContain('ECONNREFUSED');
    expect(human.stdout).toMatch(/^jira: UNREACHABLE - http:\/\/127\.0\.0\.1:9 unreachable: no answer on findUsers: ECONNREFUSED/m);

    // The token: days left, and a warning inside warnBeforeExpiry (a warning, not a failure).
    expect(s.token.expiry).toMatchObject({ level: 'warn', warnBeforeExpiry: '30d' });
    expect(s.token.expiry.daysLeft).toBeGreaterThanOrEqual(4);
    expect(s.token.expiry.daysLeft).toBeLessThanOrEqual(5);
    expect(human.stdout).toMatch(/^token: ok - [45] days left/m);
    // Which code answered: version, commit, node.
    expect((s as unknown as { build: unknown }).build).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), commit: expect.stringMatching(/^[0-9a-f]{12}$/), node: process.versions.node });
    expect(human.stdout).toMatch(/^mailroom: \d+\.\d+\.\d+\S* \(commit [0-9a-f]{12}, node /m);
    expect(human.stdout).toMatch(/^WARNING: the token expires in [45] days \(within token\.warnBeforeExpiry 30d\): create a new one and run `mailroom token rotate`/m);

    // Failed jobs: exit 1, and the command that lists them.
    expect(s.failed).toEqual({
      total: 1,
      command: 'mailroom failed list',
      byQueue: [{ queue: 'identity-provision', failed: 1, command: 'mailroom failed list --queue identity-provision' }],
    });
    expect(human.stdout).toContain('failed: 1 job(s) (identity-provision 1): see `mailroom failed list`');
  });
});
