// The new-sender burst (issue #25 point 5): 300 mails appended over IMAP at 50/s from 80
// senders, 76 of them new to Jira, while every role runs. For each new sender's first mail:
// first append -> account ready (provision job finished: created and in every group), and the
// steps between, read from the job timestamps BullMQ keeps:
//   append -> enqueued            the poller (IMAP IDLE floor, ~0.5 s)
//   enqueued -> provision added   the mail-inbound queue wait and the resolver's screening and
//                                 decision (BullMQ's processedOn is overwritten when the parked
//                                 mail runs again, so the two are read together)
//   provision added -> started    the identity-provision queue wait
//   provision started -> finished the provisioner's run (its Jira calls: ~2 x the latency)
// Runs inside `npm run bench`, or alone on its own rig:
//   npx tsx bench/new-senders.ts [--latency 20] [--jitter 10] [--mails 300] [--senders 80] [--unknown 76] [--rate 50]
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { Job, Queue } from 'bullmq';
import { appender, makeMails, population, type BenchMail } from './lib/mails.js';
import { bareId } from './lib/mails.js';
import { closeQueues, issuesByMessage, openQueues, waitUntil } from './lib/observe.js';
import { ALL_ROLES, startRig, type Rig, type Run } from './lib/rig.js';
import { perSec, round, spread, table, type Spread } from './lib/stats.js';
import { benchPipeline } from './pipeline.js';
import { startSlowRedis } from './lib/slow-redis.js';

export interface NewSenderBurstOptions {
  mails: number;
  senders: number;
  unknown: number;
  ratePerSec: number;
  timeoutMs: number;
}

export const NEW_SENDER_BURST: NewSenderBurstOptions = { mails: 300, senders: 80, unknown: 76, ratePerSec: 50, timeoutMs: 150_000 };

export interface NewSenderBurst {
  mails: number;
  senders: number;
  newSenders: number;
  appendsPerSec: number;
  /** First append of a new sender -> its provision job finished (account created, in every group). */
  firstAppendToAccountReady: Spread;
  steps: {
    appendToEnqueued: Spread;
    enqueuedToProvisionAdded: Spread;
    provisionQueueWait: Spread;
    provisionRun: Spread;
    /** Account ready -> the waiting mail resolved (the provisioner promotes it). */
    accountReadyToMailResolved: Spread;
  };
  /** Jira calls the provisioner made per new sender (user create + group joins). */
  provisionCallsPerNewSender: number;
}

interface Times {
  timestamp: number;
  processedOn?: number;
  finishedOn?: number;
}

async function allJobs(q: Queue): Promise<Job[]> {
  const jobs: Job[] = [];
  for (let start = 0; ; start += 1000) {
    const page = await q.getJobs(['completed', 'failed', 'waiting', 'delayed', 'active'], start, start + 999, true);
    jobs.push(...page.filter(Boolean));
    if (page.length < 1000) break;
  }
  return jobs;
}

async function appendPaced(rig: Rig, run: Run, mails: BenchMail[], ratePerSec: number): Promise<{ at: Map<string, number>; perSec: number }> {
  const a = appender(rig.dovecot, run.imapUser);
  const at = new Map<string, number>();
  const t0 = Date.now();
  try {
    for (const [i, m] of mails.entries()) {
      const due = t0 + (i * 1000) / ratePerSec;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      at.set(m.messageId, (await a.append(m.raw)).at);
    }
  } finally {
    await a.close();
  }
  return { at, perSec: perSec(mails.length, Date.now() - t0) };
}

const PROVISION_OPS = ['createUser', 'addUserToGroup'];

/**
 * The burst on a run whose roles are up (they are started if not). Mails and senders are tagged
 * `tag`, so the workload can follow others on the same run.
 */
export async function benchNewSenderBurst(rig: Rig, run: Run, o: NewSenderBurstOptions = NEW_SENDER_BURST, tag = 'ns'): Promise<NewSenderBurst> {
  for (const role of ALL_ROLES) if (!run.running.has(role)) run.start(role);
  const qs = openQueues(rig.conn, run.prefix);
  // Mailroom's own path is measured: a site where new accounts reach the directory at once. On
  // an organization with centralized user management a new account can be "user not found" to
  // group add for a while (the simulator's default 1 s); that wait is the site's, added on top
  // (one more group-add call per new sender, retried with backoff: docs/jira-permissions.md).
  const propagation = rig.sim.state.userPropagationMs;
  rig.sim.state.userPropagationMs = 0;
  try {
    // Every role up and idle: two warm-up mails (one from a new sender) become issues first.
    const warm = makeMails(population(rig.sim.state, { senders: 2, unknown: 1, tag: `${tag}-warm` }), { count: 2, tag: `${tag}-warm` });
    await appendPaced(rig, run, warm, 10);
    await waitUntil('the warm-up mails of the new-sender burst', async () => {
      const by = issuesByMessage(rig.sim);
      return warm.every((m) => by.has(m.messageId));
    }, o.timeoutMs);

    const pop = population(rig.sim.state, { senders: o.senders, unknown: o.unknown, tag });
    const mails = makeMails(pop, { count: o.mails, tag, seed: 13 });
    const opsBefore = PROVISION_OPS.reduce((n, op) => n + rig.sim.counters.count(op), 0);
    const resolvedBefore = (await qs['mail-inbound'].getJobCounts('completed')).completed ?? 0;
    const { at, perSec: appendsPerSec } = await appendPaced(rig, run, mails, o.ratePerSec);
    const newSet = new Set(pop.unknown);
    const firstOf = new Map<string, BenchMail>();
    for (const m of [...mails].sort((x, y) => at.get(x.messageId)! - at.get(y.messageId)!)) {
      if (newSet.has(m.sender) && !firstOf.has(m.sender)) firstOf.set(m.sender, m);
    }
    const provisionByEmail = async () => new Map((await allJobs(qs['identity-provision'])).map((j) => [String((j.data as { email?: string }).email).toLowerCase(), j]));
    await waitUntil('every new sender of the burst to have an account', async () => {
      const by = await provisionByEmail();
      return pop.unknown.every((e) => by.get(e)?.finishedOn !== undefined);
    }, o.timeoutMs);
    await waitUntil('every burst mail to be resolved', async () => ((await qs['mail-inbound'].getJobCounts('completed')).completed ?? 0) >= resolvedBefore + o.mails, o.timeoutMs);

    const provision = await provisionByEmail();
    const inbound = new Map((await allJobs(qs['mail-inbound'])).map((j) => [bareId((j.data as { record?: { messageId?: string } }).record?.messageId), j]));
    const d = { total: [] as number[], enq: [] as number[], decide: [] as number[], pwait: [] as number[], prun: [] as number[], promote: [] as number[] };
    for (const [sender, m] of firstOf) {
      const appendAt = at.get(m.messageId)!;
      const mail: Times | undefined = inbound.get(m.messageId);
      const prov: Times | undefined = provision.get(sender);
      if (!mail || !prov?.finishedOn || prov.processedOn === undefined) continue;
      d.total.push(prov.finishedOn - appendAt);
      d.enq.push(mail.timestamp - appendAt);
      d.decide.push(prov.timestamp - mail.timestamp);
      d.pwait.push(prov.processedOn - prov.timestamp);
      d.prun.push(prov.finishedOn - prov.processedOn);
      if (mail.finishedOn) d.promote.push(mail.finishedOn - prov.finishedOn);
    }
    const opsAfter = PROVISION_OPS.reduce((n, op) => n + rig.sim.counters.count(op), 0);
    return {
      mails: o.mails,
      senders: o.senders,
      newSenders: o.unknown,
      appendsPerSec,
      firstAppendToAccountReady: spread(d.total),
      steps: {
        appendToEnqueued: spread(d.enq),
        enqueuedToProvisionAdded: spread(d.decide),
        provisionQueueWait: spread(d.pwait),
        provisionRun: spread(d.prun),
        accountReadyToMailResolved: spread(d.promote),
      },
      provisionCallsPerNewSender: round((opsAfter - opsBefore) / o.unknown, 2),
    };
  } finally {
    rig.sim.state.userPropagationMs = propagation;
    await closeQueues(qs);
  }
}

/** The burst's rows for the bench table. */
export function newSenderRows(b: NewSenderBurst): (string | number | undefined)[][] {
  const ms = (s: Spread) => [s.p50, s.p95, s.p99].map((v) => (v === undefined ? '-' : `${v}`)).join(' / ');
  const w = `${b.mails} mails at ${b.appendsPerSec}/s, ${b.senders} senders, ${b.newSenders} new`;
  return [
    ['new sender: first append -> account ready p50/p95/p99 (ms)', `${ms(b.firstAppendToAccountReady)} (target p99 < 1000)`, w],
    ['  append -> enqueued (IMAP IDLE floor)', ms(b.steps.appendToEnqueued), `${b.steps.appendToEnqueued.n} first mails of new senders`],
    ['  enqueued -> provision job added (resolver)', ms(b.steps.enqueuedToProvisionAdded), 'same mails'],
    ['  provision job queue wait', ms(b.steps.provisionQueueWait), `${b.steps.provisionQueueWait.n} provision jobs`],
    ['  provision job run', ms(b.steps.provisionRun), `${b.provisionCallsPerNewSender} Jira calls each`],
    ['  account ready -> mail resolved', ms(b.steps.accountReadyToMailResolved), 'the waiting mail promoted'],
  ];
}

/**
 * Sequential Redis round trips between a new sender's mail being enqueued and its account being
 * ready, counted without the machine's load in the figure: resolve + provision in this process
 * (bench/pipeline.ts, Jira at 0 ms) on Redis behind a proxy that delays each round trip by
 * `delayMs`, minus the same run without the delay, over the delay. One mail per new sender,
 * fewer senders than the provisioner's concurrency, so nothing queues.
 */
export async function countRoundTrips(o: { redisUrl?: string; delayMs?: number; senders?: number } = {}): Promise<{ delayMs: number; withDelayMs: number; withoutDelayMs: number; roundTrips: number }> {
  const delayMs = o.delayMs ?? 10;
  const senders = o.senders ?? 6;
  const url = new URL(o.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const run = async (redisUrl: string) => (await benchPipeline({ mails: senders, senders, unknown: senders, latencyMs: 0, jitterMs: 0, redisUrl, warmup: 4 })).accountReadyMs.p50;
  const withoutDelayMs = await run(url.href);
  const slow = await startSlowRedis({ host: url.hostname, port: Number(url.port || 6379) }, delayMs);
  try {
    const withDelayMs = await run(slow.url);
    return { delayMs, withDelayMs, withoutDelayMs, roundTrips: round((withDelayMs - withoutDelayMs) / delayMs, 1) };
  } finally {
    await slow.close();
  }
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      latency: { type: 'string', default: '20' },
      jitter: { type: 'string', default: '10' },
      mails: { type: 'string', default: String(NEW_SENDER_BURST.mails) },
      senders: { type: 'string', default: String(NEW_SENDER_BURST.senders) },
      unknown: { type: 'string', default: String(NEW_SENDER_BURST.unknown) },
      rate: { type: 'string', default: String(NEW_SENDER_BURST.ratePerSec) },
      json: { type: 'boolean', default: false },
      'round-trips': { type: 'boolean', default: false },
      'redis-delay': { type: 'string', default: '10' },
    },
  });
  if (a['round-trips']) {
    process.stdout.write(`${JSON.stringify(await countRoundTrips({ delayMs: Number(a['redis-delay']) }))}\n`);
    return;
  }
  const rig = await startRig({ latencyMs: Number(a.latency), jitterMs: Number(a.jitter), imapUsers: ['burst@example.test'] });
  try {
    const run = await rig.newRun('burst', { imapUser: 'burst@example.test' });
    try {
      const b = await benchNewSenderBurst(rig, run, { mails: Number(a.mails), senders: Number(a.senders), unknown: Number(a.unknown), ratePerSec: Number(a.rate), timeoutMs: NEW_SENDER_BURST.timeoutMs });
      process.stdout.write(a.json ? `${JSON.stringify(b, null, 2)}\n` : `${table([['figure', 'value', 'workload'], ...newSenderRows(b)])}\n`);
    } finally {
      await run.stopAll();
    }
  } finally {
    await rig.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
