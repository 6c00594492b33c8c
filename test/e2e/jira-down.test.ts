// Jira down, in the Procfile layout: the resolver and the web role run as their own processes
// (as `node workers/<role>.js` would), the Jira simulator is stopped and started again.
//   #2  reachability comes from the resolver's real traffic, shared through Redis: /readyz turns
//       503 naming the Jira URL, `mailroom status` says UNREACHABLE and exits 1, the metrics say
//       0; `token set` against the stopped Jira exits 4 (3 is Redis); all recover once Jira is back.
//   #3  the resolver's own counters (Jira requests, job durations) reach the web role's /metrics
//       with role and instance labels.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MailRecord } from '../../src/mail/record.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startSeededSim, storeAdminToken, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { freePort } from '../../src/ops/own-redis.js';
import { ROOT, runCli, type CliRun } from '../helpers/cli.js';

const prefix = uniquePrefix('jira-down');
const redis = testRedis({ forWorker: true });
const secretKey = randomBytes(32).toString('base64');
let dir: string;
let configFile: string;
let jira: SeededSim | undefined;
let jiraPort = 0;
let webPort = 0;
let inbound: Queue;
const roles: ChildProcess[] = [];
const logs: string[] = [];

const env = () => ({ ...process.env, REDIS_URL, MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: secretKey, MAILROOM_SECRET_KEY_FILE: '' });

function startRole(role: string, ...args: string[]): void {
  const child = spawn(process.execPath, ['--import', 'tsx', `workers/${role}.ts`, '--config', configFile, ...args], { cwd: ROOT, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => logs.push(`[${role}] ${d.toString()}`));
  roles.push(child);
}

function cli(args: string[], stdin = '', config = configFile): Promise<CliRun> {
  return runCli(args, { config, env: env(), stdin, timeoutMs: 150_000 });
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`never happened: ${what} (last: ${String(last)})\n${logs.join('').slice(-3000)}`);
}

interface Readyz {
  ready: boolean;
  checks: { name: string; ok: boolean; detail?: string }[];
}

async function readyz(): Promise<{ status: number; body: Readyz }> {
  const r = await fetch(`http://127.0.0.1:${webPort}/readyz`);
  return { status: r.status, body: (await r.json()) as Readyz };
}
const jiraCheck = (b: Readyz) => b.checks.find((c) => c.name === 'jira');

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${webPort}/metrics`)).text();
}

/** Every sample of a metric whose labels include `labels`, summed. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

function record(from: string, subject: string): MailRecord {
  return {
    v: 1,
    rawRef: { sha256: createHash('sha256').update(`${from} ${subject}`).digest('hex'), size: 1000 },
    messageId: `<${randomBytes(6).toString('hex')}@example.com>`,
    references: [],
    subject,
    from: { address: from },
    replyTo: [],
    to: [{ address: 'support@acme.example' }],
    cc: [],
    text: 'hello',
    textTruncated: false,
    fromHtml: false,
    attachments: [],
    attachmentsTruncated: false,
    headers: {},
    classification: { kind: 'human', reason: 'no automation headers' },
  };
}

async function addMail(from: string, subject: string): Promise<string> {
  const job = await addJob(inbound, mailInbound, { mailboxId: 'support', origin: { kind: 'file', name: subject }, record: record(from, subject), receivedAt: new Date().toISOString() });
  return String(job.id);
}

async function startJira(): Promise<void> {
  jira = await startSeededSim({ port: jiraPort });
  jiraPort = Number(new URL(jira.sim.url).port);
  await storeAdminToken(redis, prefix, secretKey, jira.site);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mr-jira-down-'));
  configFile = join(dir, 'mailroom.yml');
  webPort = await freePort();
  await startJira();
  writeFileSync(
    configFile,
    [
      'jira:',
      `  site: ${jira!.sim.url}`,
      '  timeout: 2s',
      'store:',
      '  kind: fs',
      `  dir: ${join(dir, 'store')}`,
      'mailboxes:',
      '  - id: support',
      'queues:',
      // Short retries, so the stopped Jira is met again quickly (the default rides out an hour).
      "  mail-inbound: { attempts: 50, delay: 500ms, maxDelay: 2s }",
      'web:',
      '  host: 127.0.0.1',
      `  port: ${webPort}`,
      '',
    ].join('\n'),
  );
  inbound = openQueue(mailInbound, { connection: redis, prefix });
  startRole('resolver');
  startRole('web', '--no-auth');
  await until('the web role answers', async () => (await fetch(`http://127.0.0.1:${webPort}/healthz`)).ok);
}, 180_000);

afterAll(async () => {
  for (const c of roles) c.kill('SIGTERM');
  await Promise.all(roles.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  await inbound?.close();
  await jira?.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

describe('Jira down and back, one process per role', () => {
  it('is seen from real traffic on /readyz, status and /metrics, with every role in the scrape', { timeout: 400_000 }, async () => {
    const url = jira!.sim.url;

    // Jira up: a mail from a known sender is looked up by the resolver process.
    const first = await addMail('bob@partner.example', 'printer');
    await until('the first mail resolved', async () => (await inbound.getJob(first))?.finishedOn);
    const up = await until('/readyz: jira answers', async () => {
      const r = await readyz();
      return jiraCheck(r.body)?.detail?.includes('answers') && r;
    });
    expect(jiraCheck(up.body)).toMatchObject({ ok: true, detail: expect.stringContaining(url) });

    // #3: the resolver's counters reach the web role's scrape, labelled with its role.
    const text = await until('the resolver in /metrics', async () => {
      const t = await metrics();
      return total(t, 'mailroom_job_duration_seconds_count', { role: 'resolver', queue: 'mail-inbound' }) > 0 && t;
    });
    expect(total(text, 'mailroom_jira_requests_total', { role: 'resolver', operation: 'findUsers', status: '200' })).toBeGreaterThan(0);
    expect(text).toMatch(/mailroom_jira_requests_total\{operation="findUsers",status="200",role="resolver",instance="[^"]+:\d+"\} \d+/);
    // The web process's own series are there too, under their role; install-wide gauges once, unlabelled.
    expect(text).toMatch(/mailroom_process_process_cpu_seconds_total\{role="web",instance="[^"]+"\}/);
    expect(text).toMatch(/mailroom_process_process_cpu_seconds_total\{role="resolver",instance="[^"]+"\}/);
    expect(text).toContain('mailroom_queue_jobs{queue="mail-inbound",state="completed"} 1');
    expect(text).toContain(`mailroom_jira_reachable{url="${url}"} 1`);
    expect(text.match(/^# TYPE mailroom_jira_requests_total counter$/gm)).toHaveLength(1);
    // Well formed for Prometheus: each family declared once, and its samples right after it.
    const declared: string[] = [];
    for (const line of text.split('\n').filter(Boolean)) {
      const type = /^# TYPE (\w+) \w+$/.exec(line);
      if (type) declared.push(type[1]!);
      else if (!line.startsWith('# HELP ')) expect(line.split(/[{ ]/)[0]!.startsWith(declared.at(-1)!), line).toBe(true);
    }
    expect(new Set(declared).size).toBe(declared.length);

    // Jira stops; a mail from a new sender makes the resolver call it, and get no answer.
    await jira!.close();
    jira = undefined;
    const second = await addMail('new.person@customer.example', 'vpn');
    const down = await until('/readyz: jira unreachable', async () => {
      const r = await readyz();
      return jiraCheck(r.body)?.ok === false && r;
    });
    expect(down.status).toBe(503);
    expect(jiraCheck(down.body)!.detail).toMatch(new RegExp(`^${url.replace(/[.:/]/g, '\\$&')} unreachable: no answer on \\w+: \\S+`));
    const downText = await metrics();
    expect(downText).toContain(`mailroom_jira_reachable{url="${url}"} 0`);
    expect(total(downText, 'mailroom_jira_error_ratio', { url })).toBeGreaterThan(0);

    const status = await cli(['status']);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/^jira: UNREACHABLE - http:\/\/127\.0\.0\.1:\d+ unreachable: /m);

    // `token set` against the stopped Jira: its own exit code, not Redis's 3.
    const set = await cli(['token', 'set', '--email', 'mailroom-bot@acme.example'], 'a-token-for-the-down-jira');
    expect(set.code, set.stderr).toBe(4);
    expect(set.stderr).toMatch(/not stored: .*\(Jira at http:\/\/127\.0\.0\.1:\d+\)/);
    expect(set.stderr).not.toContain('a-token-for-the-down-jira');
    // So does the online config check: nothing is called missing while Jira does not answer.
    const offline = await cli(['config', 'check', '--online']);
    expect(offline.code, offline.stderr).toBe(4);
    expect(offline.stderr).toMatch(/Jira at http:\/\/127\.0\.0\.1:\d+ did not answer/);

    // Jira is back (same port): the mail goes through and every view recovers.
    await startJira();
    await until('the second mail resolved', async () => (await inbound.getJob(second))?.finishedOn, 180_000);
    const back = await until('/readyz: jira answers again', async () => {
      const r = await readyz();
      return jiraCheck(r.body)?.ok && r;
    });
    expect(jiraCheck(back.body)!.detail).toContain('answers');
    await until('metrics: reachable again', async () => (await metrics()).includes(`mailroom_jira_reachable{url="${url}"} 1`));
    type Status = { jira: { reachable: boolean }; activity: { queue: string; workers?: number; consuming: boolean }[] };
    // A rate-limit window Jira's outage left on the queue may still be running out: ask until it has.
    const after = await until('status: mail-inbound consumed again', async () => {
      const s = JSON.parse((await cli(['status', '--json'])).stdout) as Status;
      return s.activity.find((a) => a.queue === 'mail-inbound')?.consuming ? s : undefined;
    });
    expect(after.jira.reachable).toBe(true);
    // #4 with a real role process: the resolver's worker is seen consuming mail-inbound.
    expect(after.activity.find((a) => a.queue === 'mail-inbound')).toMatchObject({ workers: 1, consuming: true });
    expect(after.activity.find((a) => a.queue === 'jira-deliver')).toMatchObject({ workers: 0 });

    // #9 from the command line: a group Jira does not have is named with its key path, exit 1.
    const badConfig = join(dir, 'bad-group.yml');
    writeFileSync(badConfig, [`jira:`, `  site: ${url}`, 'mailboxes:', '  - id: support', '    policy: { autoCreate: user, groups: [support-customers, no-such-group] }', ''].join('\n'));
    const bad = await cli(['config', 'check', '--online'], '', badConfig);
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stdout).toMatch(/^MISSING\s+mailboxes\[0\]\.policy\.groups\[1\]\s+group "no-such-group" does not exist$/m);
    expect(bad.stdout).toMatch(/^ok\s+mailboxes\[0\]\.policy\.groups\[0\]\s+group "support-customers" exists$/m);
    expect((await cli(['config', 'check', '--online'])).code).toBe(0);
  });
});
