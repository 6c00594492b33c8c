// The demo: the whole pipeline on an embedded default. With only Redis available it starts the
// Jira simulator (a believable demo site), stores the simulator's workaround token encrypted,
// runs every role in this process on mailroom.example.yml, feeds the sample mails written for
// the project, and reports what happened: accounts created, groups, issues and comments. Then
// the customer reply loop (loop.ts): acknowledgements and an agent's reply, mailed to a local
// SMTP sink, and an internal note that is not.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Job, Queue } from 'bullmq';
import { parse as parseYaml } from 'yaml';
import { parseConfig, type Config } from '../config/load.js';
import { startJiraSim, seedDemo, type JiraSim } from '../jira-sim/index.js';
import { createLogger, type Logger } from '../core/log.js';
import { describeError } from '../core/errors.js';
import { ingestFiles, type IngestRow } from '../mail/ingest-files.js';
import { createMailStore } from '../mail/store.js';
import { identityProvision, jiraDeliver, mailInbound, respond } from '../queues/catalog.js';
import { addJob, openQueue } from '../queues/queue.js';
import { createRedis, deleteByPrefix, describeTarget, parseRedisTarget, type Redis, type RedisTarget } from '../core/redis.js';
import { allRoles } from '../roles/all.js';
import { createRoleContext, type Stoppable } from '../roles/runtime.js';
import { loadSecretKey } from '../token/key.js';
import { saveToken } from '../token/store.js';
import type { ResolveResult } from '../identity/resolver.js';
import type { DeliverResult } from '../deliver/deliverer.js';
import { ownMailOptions } from '../mail/loop.js';
import { agentAnswers, DEMO_WEBHOOK_SECRET_ENV, withCustomerReplies, type AgentStep } from './loop.js';
import { readSinkMail, startSmtpSink, type Received } from './smtp-sink.js';

const here = dirname(fileURLToPath(import.meta.url));
export const DEMO_MAILS = join(here, 'mails');
export const DEMO_CONFIG = resolve(here, '..', '..', 'mailroom.example.yml');

export interface DemoOptions {
  redisUrl: string;
  /**
   * The Redis variables (REDIS_URL, or REDIS_SENTINELS + REDIS_SENTINEL_MASTER, or
   * REDIS_CLUSTER_NODES, with passwords): when given, they name the Redis instead of redisUrl.
   */
  redisEnv?: Record<string, string>;
  /** Key prefix; the demo wipes it first so every run tells the same story. */
  prefix: string;
  /** Port for the web role (0 = any free port). */
  webPort: number;
  logLevel: string;
  /** Give up waiting for the pipeline after this long. */
  timeoutMs: number;
}

export interface MailOutcome {
  file: string;
  kind: string;
  from?: string;
  people: { email: string; role: string; status: string; reason?: string }[];
  jira?: string;
  problem?: string;
}

export interface DemoReport {
  mails: MailOutcome[];
  accountsCreated: { email: string; displayName: string; accountType: string; groups: string[]; serviceDesks: string[] }[];
  issues: { key: string; summary: string; reporter?: string; comments: number; attachments: string[] }[];
  /** What the demo's SMTP sink received: acknowledgements, then the agent's reply. */
  customerMails: { kind: string; from: string; to: string; subject: string; inReplyTo: string }[];
  /** The agent's public comment and internal note; undefined when no issue had an email-only participant. */
  agent?: AgentStep;
  smtpSink: string;
  boardUrl: string;
  jiraUrl: string;
  settled: boolean;
}

export interface RunningDemo {
  report: DemoReport;
  /** Feed more mail files into the running pipeline; resolves once every queue is idle again (false on timeout). */
  feed(paths: string[], timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * The demo's own connection, once Redis has answered. Every failed (re)connect is an 'error'
 * event; with no listener ioredis prints each one to stderr, outside the log. Until the roles'
 * outage watcher has this connection too, `early` keeps the last one for the line the demo ends
 * with when Redis is not there; the caller takes it off when the watcher takes over.
 */
async function openDemoRedis(target: RedisTarget): Promise<{ admin: Redis; early: (e: unknown) => void }> {
  const admin = createRedis(target, { name: 'mailroom-demo' });
  let lastError: unknown;
  const early = (e: unknown) => (lastError = e);
  admin.on('error', early);
  try {
    await admin.ping();
  } catch (e) {
    admin.disconnect();
    const why = describeError(lastError ?? e).split('\n')[0];
    throw new Error(`the demo needs Redis at ${describeTarget(target)} (${why}): start redis-server or set REDIS_URL`, { cause: e });
  }
  return { admin, early };
}

export async function runDemo(opts: DemoOptions): Promise<RunningDemo> {
  const logger = createLogger({ level: opts.logLevel, name: 'mailroom-demo' });
  const redisEnv = opts.redisEnv ?? { REDIS_URL: opts.redisUrl };
  const { target, problems } = parseRedisTarget(redisEnv);
  if (!target) throw new Error(problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  const { admin, early } = await openDemoRedis(target);
  await deleteByPrefix(admin, opts.prefix);

  const sim = await startJiraSim({ latencyMs: 20, jitterMs: 10 });
  const site = seedDemo(sim);
  // Demo mails are a few KB: anything near 1 MiB would be a bug worth refusing.
  const sink = await startSmtpSink({ maxBytes: 1024 * 1024 });
  const config = await demoConfig(opts, redisEnv, sim.url, sink.port);
  const webhookSecret = config.secrets.webhookSecret!;

  await saveToken(admin, config.prefix, loadSecretKey(config.secretKey), {
    token: site.admin.token,
    email: site.admin.email,
    accountId: site.admin.accountId,
    displayName: 'Mailroom (workaround user)',
    storedAt: new Date(),
    expiresAt: new Date(Date.now() + 365 * 86_400_000),
  });

  const ctx = createRoleContext(config, logger);
  // From here Redis going away is said once for the whole demo, with the roles' connections.
  admin.off('error', early);
  ctx.redisOutage.watch(admin);
  const running: Stoppable[] = [];
  for (const start of allRoles({ noAuth: true })) running.push(await start(ctx));
  // Jira's admin webhook, pointed at the web role's intake (the simulator signs its deliveries).
  sim.state.webhooks.register({ url: `http://127.0.0.1:${opts.webPort}/webhooks/jira`, secret: webhookSecret, events: ['comment_created'] });

  const seeded = new Set(sim.state.accounts.keys());
  const inbound = openQueue(mailInbound, { connection: admin, prefix: config.prefix });
  const ingest = (paths: string[]) =>
    ingestFiles(paths, {
      store: createMailStore(config, admin),
      parse: ownMailOptions(config.smtp),
      onMail: async (record, source) => {
        const data = { mailboxId: 'support', origin: { kind: 'file' as const, name: source }, record, receivedAt: new Date().toISOString() };
        await addJob(inbound, mailInbound, data, config.queues);
      },
    });
  const rows = await ingest([DEMO_MAILS]);

  const open = { connection: admin, prefix: config.prefix };
  const respondQ = openQueue(respond, open);
  const queues = [inbound, openQueue(identityProvision, open), openQueue(jiraDeliver, open), respondQ];
  const settled = await waitUntilSettled(queues, opts.timeoutMs);
  // The report tells what the mail made; the agent's comments come after it.
  const report = await buildReport(rows, queues, sim, seeded, `http://127.0.0.1:${opts.webPort}/board`, settled);
  const acknowledged = sink.received.length;
  const agent = settled ? await agentAnswers(sim, site, respondQ, opts.timeoutMs) : undefined;
  report.customerMails = await customerMails(sink.received, acknowledged);
  report.smtpSink = `127.0.0.1:${sink.port}`;
  if (agent) report.agent = agent;

  return {
    report,
    async feed(paths, timeoutMs = opts.timeoutMs) {
      await ingest(paths);
      return waitUntilSettled(queues, timeoutMs);
    },
    async stop() {
      await Promise.allSettled(running.reverse().map((r) => r.stop()));
      await Promise.all(queues.map((q) => q.close()));
      await ctx.closeAll();
      await sim.close();
      await sink.close();
      admin.disconnect();
      logger.flush();
    },
  };
}

/** mailroom.example.yml with the demo's Redis, store, web port, simulator and reply loop. */
async function demoConfig(opts: DemoOptions, redisEnv: Record<string, string>, jiraUrl: string, sinkPort: number): Promise<Config> {
  const raw: unknown = parseYaml(await readFile(DEMO_CONFIG, 'utf8'));
  const config = parseConfig(withCustomerReplies(raw, sinkPort), {
    ...redisEnv,
    MAILROOM_PREFIX: opts.prefix,
    JIRA_BASE_URL: jiraUrl,
    // A fresh key per run: the demo's token is sealed like a real one, never stored in plain.
    MAILROOM_SECRET_KEY: randomBytes(32).toString('base64'),
    [DEMO_WEBHOOK_SECRET_ENV]: randomBytes(24).toString('base64url'),
  }, DEMO_CONFIG);
  config.store = { kind: 'fs', dir: await mkdtemp(join(tmpdir(), 'mailroom-demo-mail-')) };
  config.web = { host: '127.0.0.1', port: opts.webPort };
  return config;
}

/** The sink's mail: acknowledgements by recipient (they finish in any order), then what came after. */
async function customerMails(received: Received[], acknowledged: number): Promise<DemoReport['customerMails']> {
  const rows = (await Promise.all(received.map(readSinkMail))).map(({ kind, from, to, subject, inReplyTo }) => ({ kind, from, to, subject, inReplyTo }));
  return [...rows.slice(0, acknowledged).sort((a, b) => a.to.localeCompare(b.to)), ...rows.slice(acknowledged)];
}

async function waitUntilSettled(queues: Queue[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children')));
    if (counts.every((c) => Object.values(c).every((n) => n === 0))) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

async function buildReport(rows: IngestRow[], queues: Queue[], sim: JiraSim, seeded: Set<string>, boardUrl: string, settled: boolean): Promise<DemoReport> {
  const [inbound, , deliver] = queues as [Queue, Queue, Queue];
  const mails: MailOutcome[] = [];
  for (const row of rows) {
    const m: MailOutcome = { file: row.source.split('/').at(-1)!, kind: row.kind ?? 'error', from: row.from, people: [] };
    const job: Job | undefined = row.sha256 ? await inbound.getJob(row.sha256) : undefined;
    if (job?.failedReason) m.problem = job.failedReason;
    const resolved = job?.returnvalue as ResolveResult | undefined;
    if (resolved?.outcome === 'resolved') {
      m.people = resolved.people.map((p) => ({ email: p.email, role: p.role, status: p.status, reason: p.reason }));
      const d = await deliver.getJob(resolved.deliverJobId);
      const delivered = d?.returnvalue as DeliverResult | undefined;
      if (delivered && delivered.outcome !== 'classified') {
        m.jira = delivered.kind === 'comment' ? `comment on ${delivered.issueKey}` : `${delivered.kind} ${delivered.issueKey}`;
        if (delivered.uploaded) m.jira += ` (+${delivered.uploaded} attachment${delivered.uploaded > 1 ? 's' : ''})`;
      } else if (d?.failedReason) m.problem = d.failedReason;
    } else if (resolved?.outcome === 'classified') {
      m.people = [];
    }
    mails.push(m);
  }
  const accountsCreated = [...sim.state.accounts.values()]
    .filter((a) => !seeded.has(a.accountId))
    .map((a) => ({
      email: a.email ?? '(hidden)',
      displayName: a.displayName,
      accountType: a.accountType,
      groups: [...sim.state.groups.values()].filter((g) => g.members.has(a.accountId)).map((g) => g.name),
      serviceDesks: [...sim.state.serviceDesks.values()].filter((d) => d.customers.has(a.accountId)).map((d) => d.id),
    }));
  const byId = new Map([...sim.state.accounts.values()].map((a) => [a.accountId, a]));
  const issues = sim.state.allIssues().map((i) => {
    const reporter = (i.fields.reporter as { accountId?: string } | undefined)?.accountId;
    return {
      key: i.key,
      summary: String(i.fields.summary ?? ''),
      reporter: reporter ? byId.get(reporter)?.email ?? reporter : undefined,
      comments: i.comments.length,
      attachments: i.attachments.map((a) => a.filename),
    };
  });
  return { mails, accountsCreated, issues, customerMails: [], smtpSink: '', boardUrl, jiraUrl: sim.url, settled };
}


export type { Logger };
