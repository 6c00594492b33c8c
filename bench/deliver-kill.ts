// The deliverer as a process, killed with SIGKILL at random points while it delivers N mails
// against a simulator that behaves like Jira Cloud for an API token (issue properties not
// searchable) and whose creates sometimes commit and then fail (a 5xx or a dropped connection
// after the issue is stored). Restarted after each kill. Exactly N issues must come out.
//   npm run chaos -- --deliver-kill [--mails 500] [--kills 8] [--write-fail 0.2]
// test/e2e/deliver-kill.test.ts runs a smaller version of the same thing.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedis, parseRedisTarget, type Redis } from '../src/core/redis.js';
import { MESSAGE_PROPERTY } from '../src/deliver/deliverer.js';
import { createLedger } from '../src/ledger/ledger.js';
import { rawMail, storedRecord } from '../test/helpers/deliver-testkit.js';
import { seedDemo, startJiraSim, type JiraSim, type SeededSite } from '../src/jira-sim/index.js';
import { FsMailStore } from '../src/mail/store.js';
import { seeded } from '../test/helpers/sim-run.js';
import { jiraDeliver, mailboxActions } from '../src/queues/catalog.js';
import { addJob, openQueue } from '../src/queues/queue.js';
import type { Queue } from 'bullmq';
import { deleteByPrefix } from '../src/core/redis.js';
import { storeAdminToken } from '../test/helpers/jira-sim.js';

export interface DeliverKillOptions {
  mails: number;
  kills: number;
  /** Share of issue creates that are stored and then answered with a 5xx or a dropped connection. */
  writeFailRate: number;
  seed?: number;
  redisUrl?: string;
  /** Give up waiting for the last mails after this long. */
  doneWithinMs?: number;
  log?: (s: string) => void;
}

export interface DeliverKillResult {
  mails: number;
  kills: number;
  issuesAfterEachKill: number[];
  issues: number;
  distinctMessages: number;
  incomplete: number;
  missingAttachments: number;
  repeatedUploads: number;
  failedJobs: number;
  mailboxActions: number;
  createIssueCalls: number;
  /** Creates that were stored and then failed (5xx after the write, or the answer dropped). */
  createsFailedAfterWrite: number;
  searches: number;
  jiraCallsPerMail: number;
  seconds: number;
  /** The simulator's complaints (property JQL refused, schema problems), if any. */
  refusedPropertySearches: number;
}

const ENTRY = `
import { runRoles } from './src/roles/runtime.js';
import { delivererRole } from './src/roles/stations.js';
// The simulator's search lags 2 s (its default): a lost create is looked for 5 s, not Jira's 150 s.
await runRoles('deliverer', [delivererRole({ lockDuration: 1000, stalledInterval: 500, mailLockMs: 3000, recoverySettleMs: 300, recoveryWindowMs: 5_000 })]);
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runDeliverKill(o: DeliverKillOptions): Promise<DeliverKillResult> {
  const log = o.log ?? (() => undefined);
  const w = await setUp(o);
  const t0 = Date.now();
  try {
    await queueMails(w, o);
    log(`${o.mails} mails queued; write-then-fail on ${Math.round(o.writeFailRate * 100)}% of creates; ${o.kills} SIGKILLs`);
    const progress = await killRounds(w, o, log);
    await deliverTheRest(w, o);
    return await measure(w, o, progress, t0);
  } finally {
    w.child?.kill('SIGKILL');
    await w.deliverQ.obliterate({ force: true }).catch(() => undefined);
    await w.deliverQ.close();
    await w.actionsQ.close();
    await deleteByPrefix(w.redis, w.prefix);
    w.redis.disconnect();
    await w.sim.close();
    rmSync(w.dir, { recursive: true, force: true });
  }
}

/** The run's Redis, simulator, mail store, queues and config, and the deliverer process it restarts. */
interface KillWorld {
  redis: Redis;
  prefix: string;
  dir: string;
  store: FsMailStore;
  sim: JiraSim;
  site: SeededSite;
  deliverQ: Queue;
  actionsQ: Queue;
  /** The deliverer process now running (the last one started). */
  child?: ChildProcess;
  startDeliverer(): ChildProcess;
  stderr(): string;
}

/** Set up: Redis, the simulator with the admin token stored, a mail store and a mailroom.yml for the deliverer. */
async function setUp(o: DeliverKillOptions): Promise<KillWorld> {
  // Any Redis form the environment names (URL, Sentinel, Cluster), unless a URL is given.
  const { target, problems } = parseRedisTarget(o.redisUrl ? { REDIS_URL: o.redisUrl } : process.env);
  if (!target) throw new Error(`Redis is misconfigured: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  const redis = createRedis(target, { name: 'mailroom-bench' });
  const prefix = `{mr-deliver-kill-${randomBytes(4).toString('hex')}}`;
  const secretKey = randomBytes(32).toString('base64');
  const dir = mkdtempSync(join(tmpdir(), 'mr-deliver-kill-'));
  const store = new FsMailStore(join(dir, 'mail'));
  // Some latency, so kills land in the middle of Jira calls as well as between them.
  const sim = await startJiraSim({ latencyMs: 4, jitterMs: 3, seed: o.seed ?? 7 });
  const site = seedDemo(sim);
  await storeAdminToken(redis, prefix, secretKey, site);
  writeFileSync(join(dir, 'mailroom.yml'), delivererConfig(sim.url, join(dir, 'mail')));
  let stderr = '';
  const env = { ...process.env, ...(o.redisUrl ? { REDIS_URL: o.redisUrl } : {}), MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: secretKey, MAILROOM_SECRET_KEY_FILE: '', MAILROOM_CONFIG: join(dir, 'mailroom.yml') };
  const w: KillWorld = {
    redis,
    prefix,
    dir,
    store,
    sim,
    site,
    deliverQ: openQueue(jiraDeliver, { connection: redis, prefix }),
    actionsQ: openQueue(mailboxActions, { connection: redis, prefix }),
    startDeliverer() {
      const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ENTRY], { cwd: join(import.meta.dirname, '..'), env, stdio: ['ignore', 'ignore', 'pipe'] });
      c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      w.child = c;
      return c;
    },
    stderr: () => stderr,
  };
  return w;
}

function delivererConfig(site: string, mailDir: string): string {
  return [
    'jira:',
    `  site: ${site}`,
    '  timeout: 5s',
    'store:',
    '  kind: fs',
    `  dir: ${mailDir}`,
    'mailboxes:',
    '  - id: support',
    '    deliver:',
    '      project: SUP',
    'queues:',
    '  jira-deliver: { attempts: 100, delay: 50ms, maxDelay: 1s }',
    'log:',
    '  level: error',
    '',
  ].join('\n');
}

const exited = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r())));

/** Set up: the mails as delivery jobs, and creates that fail after their write from now on. */
async function queueMails(w: KillWorld, o: DeliverKillOptions): Promise<void> {
  // Mailroom has been running here before these mails arrive (its ledger is older than them),
  // so a mail only costs a search when a create of it may really have gone unseen.
  await createLedger(w.redis, w.prefix).bornAt();
  // Every other mail has an attachment: both the one-call path and create + upload + property.
  for (let i = 0; i < o.mails; i++) {
    const record = await storedRecord(w.store, rawMail({
      from: 'Alice Agent <alice@acme.example>',
      subject: `Kill test ${i}`,
      messageId: `kill-${i}@acme.example`,
      text: `Mail ${i}\n\nwith two paragraphs`,
      ...(i % 2 ? { attachments: [{ filename: `n${i}.txt`, contentType: 'text/plain', content: Buffer.from(`attachment ${i}`) }] } : {}),
    }));
    await addJob(w.deliverQ, jiraDeliver, {
      mailboxId: 'support',
      origin: { kind: 'imap', uidvalidity: '1', uid: i + 1, internalDate: new Date().toISOString() },
      record,
      people: [{ email: 'alice@acme.example', role: 'sender', status: 'known', accountId: w.site.users.alice.accountId }],
    });
  }
  w.sim.faults.set({ writeFailRate: o.writeFailRate, writeFailOperations: ['createIssue'] });
}

/** Run: start the deliverer, SIGKILL it at a random point of its work, o.kills times; the issues after each kill. */
async function killRounds(w: KillWorld, o: DeliverKillOptions, log: (s: string) => void): Promise<number[]> {
  const { sim } = w;
  const rand = seeded(o.seed ?? 7);
  const progress: number[] = [];
  for (let kills = 0; kills < o.kills; kills++) {
    const child = w.startDeliverer();
    // Kill only once it is delivering (start-up takes a while, and its first Jira calls are the
    // token and permission checks, not mail), at a random point after that.
    const creates = sim.counters.count('createIssue');
    const started = Date.now();
    while (sim.counters.count('createIssue') === creates && Date.now() - started < 30_000) await sleep(20);
    const before = sim.counters.count();
    // A random point: after a random time, or sooner after a random number of Jira calls (each
    // mail costs at least one), so on a fast machine a round cannot finish the whole batch.
    const working = Date.now();
    const killAfterMs = 300 + Math.floor(rand() * 1200);
    const killAtCalls = before + 1 + Math.floor(rand() * Math.max(1, Math.floor(o.mails / (o.kills + 1))));
    while (Date.now() - working < killAfterMs && sim.counters.count() < killAtCalls) await sleep(5);
    child.kill('SIGKILL');
    await exited(child);
    progress.push(sim.state.allIssues().length);
    log(`kill ${kills + 1}: ${progress.at(-1)} issues so far`);
  }
  return progress;
}

/** Run: a last deliverer, left to finish every job, then stopped. */
async function deliverTheRest(w: KillWorld, o: DeliverKillOptions): Promise<void> {
  const child = w.startDeliverer();
  const doneWithin = o.doneWithinMs ?? Math.max(180_000, o.mails * 1_500);
  const started = Date.now();
  while ((await w.deliverQ.getCompletedCount()) < o.mails) {
    if (Date.now() - started > doneWithin) throw new Error(`not done: ${await w.deliverQ.getCompletedCount()} of ${o.mails} completed; stderr: ${w.stderr()}`);
    if (child.exitCode !== null) throw new Error(`the deliverer exited (${child.exitCode}): ${w.stderr()}`);
    await sleep(200);
  }
  child.kill('SIGTERM');
  await exited(child);
}

/** Measure: the issues each mail became, their attachments, the jobs and the Jira calls. */
async function measure(w: KillWorld, o: DeliverKillOptions, progress: number[], t0: number): Promise<DeliverKillResult> {
  const { sim } = w;
  const issues = sim.state.allIssues();
  const props = issues.map((i) => i.properties.get(MESSAGE_PROPERTY) as { id?: string; complete?: boolean } | undefined);
  const actions = await w.actionsQ.getJobs(['waiting', 'delayed', 'prioritized']);
  const withAttachment = issues.filter((_, k) => Number(/kill-(\d+)@/.exec(props[k]?.id ?? '')?.[1]) % 2 === 1);
  const total = sim.counters.count();
  return {
    mails: o.mails,
    kills: o.kills,
    issuesAfterEachKill: progress,
    issues: issues.length,
    distinctMessages: new Set(props.map((p) => p?.id)).size,
    incomplete: props.filter((p) => p?.complete !== true).length,
    missingAttachments: withAttachment.filter((i) => i.attachments.length === 0).length,
    repeatedUploads: issues.reduce((n, i) => n + Math.max(0, i.attachments.length - 1), 0),
    failedJobs: await w.deliverQ.getFailedCount(),
    mailboxActions: new Set(actions.map((j) => (j.data as { uid: number }).uid)).size,
    createIssueCalls: sim.counters.count('createIssue'),
    createsFailedAfterWrite: sim.counters.count('createIssue') - sim.counters.count('createIssue', 201),
    searches: sim.counters.count('searchAndReconsileIssuesUsingJqlPost'),
    jiraCallsPerMail: Math.round((total / o.mails) * 100) / 100,
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    refusedPropertySearches: sim.counters.count('searchAndReconsileIssuesUsingJqlPost', 400),
  };
}

/** Exactly one complete issue per mail, nothing failed, every mailbox action asked for. */
export function deliverKillProblems(r: DeliverKillResult): string[] {
  const out: string[] = [];
  if (r.issues !== r.mails) out.push(`${r.issues} issues for ${r.mails} mails`);
  if (r.distinctMessages !== r.mails) out.push(`${r.distinctMessages} distinct mails among the issues`);
  if (r.incomplete) out.push(`${r.incomplete} issues not marked complete`);
  if (r.missingAttachments) out.push(`${r.missingAttachments} issues missing their attachment`);
  if (r.failedJobs) out.push(`${r.failedJobs} failed jobs`);
  if (r.mailboxActions !== r.mails) out.push(`${r.mailboxActions} mailbox actions for ${r.mails} mails`);
  if (r.refusedPropertySearches) out.push(`${r.refusedPropertySearches} property searches refused (the deliverer must not depend on them)`);
  return out;
}
