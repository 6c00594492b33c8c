// The notifier as it is run: `mailroom notify` as a subprocess, and the notifier role as its
// own process (workers/notifier.ts) on the stored workaround token, the Jira simulator and a
// real SMTP server. The worker is killed mid-send; a new process finishes the job, and nobody
// is mailed twice.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueNotification } from '../../src/notify/enqueue.js';
import { ledgerKey } from '../../src/notify/ledger.js';
import { notify } from '../../src/queues/catalog.js';
import { openQueue } from '../../src/queues/queue.js';
import { startSeededSim, type SeededSim, storeAdminToken } from '../helpers/jira-sim.js';
import { dropPrefix, REDIS_ENV, testRedis, uniquePrefix } from '../helpers/redis.js';
import { startSmtpSink, type SmtpSink } from '../integration/notify-smtp-sink.js';

const repo = join(import.meta.dirname, '..', '..');
const redis = testRedis();
const prefix = uniquePrefix('notify-e2e');
const secretKey = randomBytes(32).toString('base64');
let jira: SeededSim;
let sink: SmtpSink;
let dir: string;
let configFile: string;
const children: ChildProcess[] = [];
/** Each subprocess starts tsx afresh: seconds apiece on a busy 2-core machine. */
const SLOW = 180_000;

beforeAll(async () => {
  jira = await startSeededSim();
  sink = await startSmtpSink();
  const group = jira.sim.state.addGroup({ name: 'big-team' });
  for (let i = 0; i < 120; i++) {
    const a = jira.sim.state.addAccount({ email: `member${i}@team.example`, active: i !== 7 && i !== 63, emailHidden: i === 90, products: ['jira-software'] });
    group.members.add(a.accountId);
  }
  await storeAdminToken(redis, prefix, secretKey, jira.site);
  dir = mkdtempSync(join(tmpdir(), 'mr-notify-e2e-'));
  configFile = join(dir, 'mailroom.yml');
  writeFileSync(
    configFile,
    [
      'jira:',
      `  site: ${jira.sim.url}`,
      '  timeout: 5s',
      'mailboxes:',
      '  - id: support',
      'smtp:',
      '  host: 127.0.0.1',
      `  port: ${sink.port}`,
      '  secure: false',
      '  from: mailroom@acme.example',
      'notifications:',
      '  rules:',
      '    - project: SUP',
      '      events: [issue_created, comment_created]',
      '      groups: [big-team]',
      '      users: [lead@acme.example]',
      'queues:',
      '  notify: { attempts: 5, delay: 200ms, maxDelay: 500ms }',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await sink.close();
  await jira.close();
  await dropPrefix(redis, prefix);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ ...process.env, ...REDIS_ENV, MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: secretKey, MAILROOM_SECRET_KEY_FILE: '' });

function mailroom(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', configFile, ...args], { cwd: repo, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Start workers/notifier.ts; resolves once it logged that it started. */
function startNotifierProcess(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'workers/notifier.ts', '--config', configFile], { cwd: repo, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let err = '';
    const timer = setTimeout(() => reject(new Error(`notifier did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/"msg":"started"/.test(err)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`notifier exited with ${code}: ${err}`));
    });
  });
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('mailroom notify', () => {
  it('refuses an event that does not exist, naming the valid ones (exit 2)', async () => {
    const r = await mailroom(['notify', '--issue', 'SUP-1', '--event', 'issue_closed', '--user', 'a@b.example']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown event "issue_closed": use one of issue_created, issue_updated, comment_created');
  }, SLOW);

  it('refuses a bad issue key and a project without rules when no recipient is given (exit 2)', async () => {
    expect((await mailroom(['notify', '--issue', 'sup', '--event', 'issue_created'])).code).toBe(2);
    const r = await mailroom(['notify', '--issue', 'OPS-4', '--event', 'issue_created']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no recipients');
  }, SLOW);

  it('queues the rule recipients, or the ones given; the same --event-id twice queues once', async () => {
    const q = openQueue(notify, { connection: redis, prefix });
    try {
      const byRule = await mailroom(['notify', '--issue', 'SUP-3', '--event', 'comment_created', '--json']);
      expect(byRule.code).toBe(0);
      const a = JSON.parse(byRule.stdout) as { jobId: string; created: boolean };
      expect(a.created).toBe(true);
      expect((await q.getJob(a.jobId))?.data).toMatchObject({ issueKey: 'SUP-3', event: 'comment_created', groups: ['big-team'], users: ['lead@acme.example'] });

      const args = ['notify', '--issue', 'SUP-3', '--event', 'issue_updated', '--group', 'g1', '--group', 'g2', '--user', 'X@Y.example', '--event-id', 'run-42'];
      const first = await mailroom(args);
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^queued notify\|cli-run-42: issue_updated on SUP-3 to 2 groups \(g1, g2\) and 1 user \(x@y\.example\)/);
      const again = await mailroom(args);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('already queued');
      expect((await q.getJob('notify|cli-run-42'))?.data).toMatchObject({ groups: ['g1', 'g2'], users: ['x@y.example'] });
      await q.obliterate({ force: true });
    } finally {
      await q.close();
    }
  }, SLOW);
});

describe('the notifier process', () => {
  it('killed mid-send, is finished by a new process without mailing anyone twice', async () => {
    const q = openQueue(notify, { connection: redis, prefix });
    try {
      // The server acknowledges 50 messages, then never answers: the worker is stuck mid-send.
      sink.stallAfter = 50;
      const first = await startNotifierProcess();
      const data = { issueKey: 'SUP-9', event: 'issue_created', groups: ['big-team'], users: ['lead@acme.example'], eventId: 'crash-test' };
      const { jobId } = await enqueueNotification(q, data, { notify: { attempts: 5, delay: '200ms', maxDelay: '500ms' } });
      await until('50 recorded deliveries and a stalled send', async () => (await redis.hlen(ledgerKey(prefix, data.eventId))) === 50 && sink.stalled > 0);
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      expect(sink.received).toHaveLength(50);

      // What BullMQ's stalled-job check finds once the dead worker's lock has run out (30 s,
      // plus a check interval): emulated here instead of waited for.
      await redis.del(`${prefix}:notify:${jobId}:lock`, `${prefix}:notify:stalled-check`);
      await redis.sadd(`${prefix}:notify:stalled`, jobId);
      sink.stallAfter = undefined;
      const second = await startNotifierProcess();
      await until('the job to complete', async () => (await (await q.getJob(jobId))?.getState()) === 'completed');
      second.kill('SIGTERM');
      await new Promise((r) => second.once('exit', r));

      const all = sink.received.flatMap((m) => m.to);
      expect(all).toHaveLength(118); // 117 group members + lead@
      expect(new Set(all).size).toBe(118);
      expect(all).not.toContain('member90@team.example');
      const job = await q.getJob(jobId);
      expect(job?.returnvalue).toMatchObject({ recipients: 118, alreadyDone: 50, sent: 68, hiddenSkipped: 1 });
    } finally {
      await q.close();
    }
  }, SLOW);
});
