// `npm run bench [-- --quick] [--out file] [--latency ms] [--jitter ms]`: Mailroom's figures beside
// the ceilings they are measured against, in one run, on loopback: the raw BullMQ ceiling on the
// harness's own Redis, parse throughput against bare mailparser, the real role processes
// (poller, resolver, provisioner, deliverer) against a throwaway Dovecot and the Jira simulator,
// the poller's memory while a 25 MB mail passes, Redis bytes per queued mail, and the time a new
// sender waits for its account in a burst of new senders (bench/new-senders.ts), and outbound
// customer mails per second, each sent exactly once (bench/respond.ts). Prints a table
// and writes bench/results.json; every figure sits beside its workload size.
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchBullmq } from './bullmq.js';
import { benchHtmlDelivery } from './html.js';
import { benchNewSenderBurst, NEW_SENDER_BURST, type NewSenderBurst } from './new-senders.js';
import { benchParse } from './parse.js';
import { benchCustomerMails, CUSTOMER_MAILS } from './respond.js';
import { sampleCorpus } from './lib/corpus-sample.js';
import { describeMachine } from './lib/machine.js';
import { render, type BenchResults, type StageFigures } from './lib/report.js';
import { appendAll, describeRun, rateSince, release, until } from './lib/run-steps.js';
import { makeMails, population, type BenchMail } from './lib/mails.js';
import type { Queue } from 'bullmq';
import { closeQueues, issuesByMessage, jobTimes, memoryOfKeys, openQueues, type BenchQueue } from './lib/observe.js';
import { ALL_ROLES, MAILBOX_ID, startRig, ROOT, type Rig, type Run } from './lib/rig.js';
import { readRss, resetPeak, sampleRss } from './lib/rss.js';
import { perSec, round, spread } from './lib/stats.js';
import { rawMail } from '../test/helpers/deliver-testkit.js';
import { bareId } from './lib/mails.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench', 'results.json') },
    latency: { type: 'string', default: '20' },
    jitter: { type: 'string', default: '10' },
    corpus: { type: 'string', default: join(ROOT, '..', 'shared', 'corpora') },
  },
});

const QUICK = args.quick;
const SIZE = QUICK
  ? { ceilingJobs: 1_000, stageMails: 12, stageSenders: 6, stageUnknown: 3, e2eMails: 12, e2eSenders: 6, e2eUnknown: 3, latencyMails: 8, latencySenders: 4, latencyUnknown: 2, latencyRate: 10, bigMailMB: 2 }
  : { ceilingJobs: 20_000, stageMails: 1_000, stageSenders: 200, stageUnknown: 100, e2eMails: 1_000, e2eSenders: 200, e2eUnknown: 100, latencyMails: 200, latencySenders: 60, latencyUnknown: 30, latencyRate: 10, bigMailMB: 25 };
// Generous bounds: a stage that has not finished by then is reported as a failure, not waited on.
const STAGE_TIMEOUT_MS = QUICK ? 60_000 : 150_000;

// The poller's idle memory is read after this long without mail: past its parse threads' idle
// time (10 s, src/mail/parse-pool.ts), after which they stop and give their memory back.
const POLLER_IDLE_MS = 12_000;

const say = (s: string) => process.stderr.write(`bench: ${s}\n`);

/** The operations the deliverer uses (the resolver's and provisioner's are counted elsewhere). */
const DELIVER_OPERATIONS = ['createIssue', 'createCustomerRequest', 'setIssueProperty', 'getIssueProperty', 'searchAndReconsileIssuesUsingJqlPost', 'addAttachment', 'addComment', 'getIssue'];
const deliverCalls = (rig: Rig) => DELIVER_OPERATIONS.reduce((n, op) => n + rig.sim.counters.count(op), 0);

const waiting = async (q: Queue) => (await q.getJobCounts('waiting'))['waiting'] ?? 0;
const completed = async (q: Queue) => (await q.getJobCounts('completed'))['completed'] ?? 0;

async function workersUp(rig: Rig, run: Run, qs: Record<BenchQueue, Queue>, names: BenchQueue[]): Promise<void> {
  for (const n of names) {
    await until(run, `a worker on ${n}`, async () => (await qs[n].getWorkers()).length > 0, STAGE_TIMEOUT_MS, () => describeRun(rig, run));
  }
}

/**
 * One stage at a time over the same mails. Every role runs from the start, but mail-inbound and
 * jira-deliver are paused: the poller's rate is measured alone, then resolving (resume
 * mail-inbound), then delivering (resume jira-deliver). The mails wait in a side folder and
 * reach the inbox in one MOVE, so neither process start-up nor append speed is in the figures.
 */
async function stagedRun(rig: Rig, run: Run): Promise<{ fig: Omit<StageFigures, 'endToEndMails' | 'endToEndMailsPerSec'>; redis: BenchResults['redis'] }> {
  const pop = population(rig.sim.state, { senders: SIZE.stageSenders, unknown: SIZE.stageUnknown, tag: 'st' });
  const mails = makeMails(pop, { count: SIZE.stageMails, tag: 'st' });
  const warm = makeMails(pop, { count: 1, tag: 'st-warm' });
  const qs = openQueues(rig.conn, run.prefix);
  try {
    await qs['mail-inbound'].pause();
    await qs['jira-deliver'].pause();
    for (const role of ALL_ROLES) run.start(role);
    // Mailroom runs before these mails arrive (as in steady operation): mails older than the
    // deliverer's ledger would each cost a recovery search, which is the fresh-install case.
    await workersUp(rig, run, qs, ['jira-deliver']);
    const { perSec: appendPerSec } = await appendAll(rig, run, mails, { folder: 'Staging' });
    say(`staged: ${mails.length} mails appended to a side folder (${appendPerSec}/s)`);
    await appendAll(rig, run, warm);
    await until(run, 'the poller to read a first mail', async () => (await waiting(qs['mail-inbound'])) === 1, STAGE_TIMEOUT_MS, () => describeRun(rig, run));
    await workersUp(rig, run, qs, ['mail-inbound', 'identity-provision', 'jira-deliver']);
    const total = mails.length + 1;

    const memBefore = (await memoryOfKeys(rig.conn, `${run.prefix}:*`)).bytes;
    const released = await release(rig, run, 'Staging');
    await until(run, 'the poller to enqueue every mail', async () => (await waiting(qs['mail-inbound'])) === total, STAGE_TIMEOUT_MS, () => describeRun(rig, run));
    const memAfter = (await memoryOfKeys(rig.conn, `${run.prefix}:*`)).bytes;
    const jobKeys = await memoryOfKeys(rig.conn, `${run.prefix}:mail-inbound:${MAILBOX_ID}:*`);
    const pollerRate = rateSince(mails.length, released, (await jobTimes(qs['mail-inbound'], ['waiting'])).map((j) => j.timestamp));
    say(`staged: poller ${pollerRate} mails/s`);

    const resumed = Date.now();
    await qs['mail-inbound'].resume();
    await until(run, 'the resolver to hand every mail to delivery', async () => (await completed(qs['mail-inbound'])) === total, STAGE_TIMEOUT_MS, () => describeRun(rig, run));
    const resolveRate = rateSince(total, resumed, (await jobTimes(qs['mail-inbound'])).map((j) => j.finishedOn));
    say(`staged: resolve ${resolveRate} mails/s`);

    const resumed2 = Date.now();
    const deliverCallsBefore = deliverCalls(rig);
    await qs['jira-deliver'].resume();
    await until(run, 'the deliverer to deliver every mail', async () => (await completed(qs['jira-deliver'])) === total, STAGE_TIMEOUT_MS, () => describeRun(rig, run));
    const deliverRate = rateSince(total, resumed2, (await jobTimes(qs['jira-deliver'])).map((j) => j.finishedOn));
    const deliverCallsPerMail = round((deliverCalls(rig) - deliverCallsBefore) / total, 2);
    say(`staged: deliver ${deliverRate} mails/s, ${deliverCallsPerMail} Jira calls per mail`);
    return {
      fig: { mails: mails.length, senders: SIZE.stageSenders, newSenders: SIZE.stageUnknown, appendPerSec, pollerMailsPerSec: pollerRate, resolveMailsPerSec: resolveRate, deliverMailsPerSec: deliverRate, deliverCallsPerMail },
      redis: {
        queuedMails: jobKeys.keys,
        bytesPerMailAllKeys: Math.round((memAfter - memBefore) / mails.length),
        bytesPerMailJobKeys: jobKeys.keys ? Math.round(jobKeys.bytes / jobKeys.keys) : 0,
        jobKeys: jobKeys.keys,
      },
    };
  } finally {
    await closeQueues(qs);
  }
}

interface LiveFigures {
  latency: BenchResults['latencyMs'];
  pollerRss: BenchResults['pollerRss'];
  endToEnd: { mails: number; mailsPerSec: number };
  jira: BenchResults['jira'];
}

/**
 * Every role up and idle (they stay on from the staged run): the poller's memory while one big mail passes, then mails arriving at
 * a steady rate (latencies per step), then a burst released into the inbox at once (end-to-end
 * rate and Jira calls per mail).
 */
async function liveRun(rig: Rig, run: Run): Promise<LiveFigures> {
  const warm = makeMails(population(rig.sim.state, { senders: 2, unknown: 1, tag: 'warm' }), { count: 2, tag: 'warm' });
  const qs = openQueues(rig.conn, run.prefix);
  try {
    // Every role is up and idle once the warm-up mails are issues.
    await appendAll(rig, run, warm);
    await until(run, 'the warm-up mails', async () => issued(rig, warm), STAGE_TIMEOUT_MS, () => describeRun(rig, run));
    const pollerRss = await pollerMemory(rig, run, qs, warm[0]!.sender);
    const latency = await steadyArrivals(rig, run, qs);
    return { latency, pollerRss, ...(await releasedBurst(rig, run)) };
  } finally {
    await closeQueues(qs);
  }
}

const issued = (rig: Rig, list: BenchMail[]) => {
  const by = issuesByMessage(rig.sim);
  return list.every((m) => by.has(m.messageId));
};

/** The poller's memory while a big mail passes (and idle before it). */
async function pollerMemory(rig: Rig, run: Run, qs: Record<BenchQueue, Queue>, sender: string): Promise<LiveFigures['pollerRss']> {
  await new Promise((r) => setTimeout(r, 500));
  const pid = run.running.get('poller')!.child.pid!;
  const baseline = (await readRss(pid))?.rssKb ?? 0;
  await new Promise((r) => setTimeout(r, POLLER_IDLE_MS));
  const idle = (await readRss(pid))?.rssKb ?? 0;
  // The same poller read the staged mails: start its peak afresh so only the big mail counts.
  await resetPeak(pid);
  // Base64 grows an attachment by 4/3; size it so the whole message is the figure asked for.
  const attachment = Buffer.alloc(Math.floor((SIZE.bigMailMB * 1024 * 1024 * 3) / 4) - 4096);
  for (let i = 0; i + 4 <= attachment.length; i += 4) attachment.writeUInt32BE((i * 2654435761) >>> 0, i);
  const bigMail: BenchMail = {
    messageId: 'big-1@bench.example',
    sender,
    raw: rawMail({ from: `Big <${sender}>`, to: 'support@example.test', subject: 'Scans', messageId: 'big-1@bench.example', text: 'Scans attached.', attachments: [{ filename: 'scan.bin', contentType: 'application/octet-stream', content: attachment }] }),
  };
  const sampler = sampleRss(pid, 10);
  await appendAll(rig, run, [bigMail]);
  await until(run, 'the poller to read the big mail', async () => (await jobTimes(qs['mail-inbound'], ['waiting', 'active', 'delayed', 'completed'])).some((j) => j.messageId === bigMail.messageId), STAGE_TIMEOUT_MS, () => describeRun(rig, run));
  await new Promise((r) => setTimeout(r, 300));
  const rss = await sampler.stop();
  await until(run, 'the big mail to become an issue', async () => issued(rig, [bigMail]), STAGE_TIMEOUT_MS, () => describeRun(rig, run));
  const pollerRss = { mailBytes: bigMail.raw.length, baselineRssMB: round(baseline / 1024, 1), idleRssMB: round(idle / 1024, 1), peakRssMB: rss.peakRssMB, peakHwmMB: rss.hwmMB, samples: rss.samples };
  say(`poller rss ${JSON.stringify(pollerRss)}`);
  return pollerRss;
}

/** Steady arrivals: each mail's append -> enqueued -> account ready -> issue. */
async function steadyArrivals(rig: Rig, run: Run, qs: Record<BenchQueue, Queue>): Promise<LiveFigures['latency']> {
  const latPop = population(rig.sim.state, { senders: SIZE.latencySenders, unknown: SIZE.latencyUnknown, tag: 'lt' });
  const latMails = makeMails(latPop, { count: SIZE.latencyMails, tag: 'lt', seed: 5 });
  const { appended, perSec: appendsPerSec } = await appendAll(rig, run, latMails, { ratePerSec: SIZE.latencyRate });
  await until(run, 'every paced mail to become an issue', async () => issued(rig, latMails), STAGE_TIMEOUT_MS, () => describeRun(rig, run));
  const inbound = new Map((await jobTimes(qs['mail-inbound'])).map((j) => [j.messageId, j]));
  const issues = issuesByMessage(rig.sim);
  const toEnqueued: number[] = [];
  const toReady: number[] = [];
  const toReadyNew: number[] = [];
  const toIssue: number[] = [];
  const seenSender = new Set<string>();
  // In arrival order, so "first mail of a new sender" means what it says.
  for (const m of [...latMails].sort((x, y) => appended.get(x.messageId)!.at - appended.get(y.messageId)!.at)) {
    const a = appended.get(m.messageId)!;
    const job = inbound.get(bareId(m.messageId));
    const issue = issues.get(m.messageId)?.[0];
    if (job) {
      toEnqueued.push(job.timestamp - a.at);
      if (job.finishedOn) {
        toReady.push(job.finishedOn - job.timestamp);
        if (latPop.unknown.includes(m.sender) && !seenSender.has(m.sender)) toReadyNew.push(job.finishedOn - job.timestamp);
      }
    }
    seenSender.add(m.sender);
    if (issue) toIssue.push(Date.parse(issue.created) - a.at);
  }
  const latency = {
    mails: latMails.length,
    senders: SIZE.latencySenders,
    newSenders: SIZE.latencyUnknown,
    appendsPerSec,
    appendToEnqueued: spread(toEnqueued),
    enqueuedToAccountReady: spread(toReady),
    enqueuedToAccountReadyNewSender: spread(toReadyNew),
    appendToIssue: spread(toIssue),
  };
  say(`latency append->issue ${JSON.stringify(latency.appendToIssue)}`);
  return latency;
}

/** A burst, released at once: end-to-end mails/s and Jira calls per mail. */
async function releasedBurst(rig: Rig, run: Run): Promise<Pick<LiveFigures, 'endToEnd' | 'jira'>> {
  const burstPop = population(rig.sim.state, { senders: SIZE.e2eSenders, unknown: SIZE.e2eUnknown, tag: 'ee' });
  const burst = makeMails(burstPop, { count: SIZE.e2eMails, tag: 'ee' });
  await appendAll(rig, run, burst, { folder: 'Burst' });
  rig.sim.counters.reset();
  const released = await release(rig, run, 'Burst');
  await until(run, 'every burst mail to become an issue', async () => issued(rig, burst), STAGE_TIMEOUT_MS, () => describeRun(rig, run));
  const by = issuesByMessage(rig.sim);
  const lastIssue = Math.max(...burst.map((m) => Date.parse(by.get(m.messageId)![0]!.created)));
  const total = rig.sim.counters.count();
  const senders = new Set(burst.map((m) => m.sender)).size;
  return {
    endToEnd: { mails: burst.length, mailsPerSec: perSec(burst.length, lastIssue - released) },
    jira: {
      mails: burst.length,
      uniqueSenders: senders,
      newSenders: SIZE.e2eUnknown,
      callsPerMail: round(total / burst.length, 2),
      userSearchesPerUniqueSender: round(rig.sim.counters.count('findUsers') / senders, 2),
      createUserPerNewSender: round(rig.sim.counters.count('createUser') / SIZE.e2eUnknown, 2),
      byOperation: rig.sim.counters.snapshot().requests,
    },
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const latencyMs = Number(args.latency);
  const jitterMs = Number(args.jitter);
  const rig = await startRig({
    latencyMs,
    jitterMs,
    // Mailroom's path, as on 2026-12-01's figures (before the simulator modelled propagation).
    userPropagationMs: 0,
    imapUsers: ['bench@example.test', 'burst@example.test'],
  });
  try {
    const machine = describeMachine(await rig.redis.version());
    say(`own redis ${rig.redis.url}, dovecot 127.0.0.1:${rig.dovecot.port}, jira sim ${rig.sim.url}`);
    const { bullmq, parse, htmlDelivery } = await benchesWithoutRoles(rig);
    const { staged, live, newSenderBurst, customerMails } = await benchesOnRoles(rig);
    say(`end to end ${live.endToEnd.mailsPerSec} mails/s`);
    const stages = {
      ...staged.fig,
      endToEndMails: live.endToEnd.mails,
      endToEndMailsPerSec: live.endToEnd.mailsPerSec,
      ratioToCeiling: {
        poller: round(staged.fig.pollerMailsPerSec / bullmq.addPerSec, 4),
        resolve: round(staged.fig.resolveMailsPerSec / bullmq.processPerSec, 4),
        deliver: round(staged.fig.deliverMailsPerSec / bullmq.processPerSec, 4),
        endToEnd: round(live.endToEnd.mailsPerSec / bullmq.processPerSec, 4),
      },
    };
    const results: BenchResults = {
      mode: QUICK ? 'quick' : 'default',
      machine,
      jiraSim: { latencyMs, jitterMs },
      bullmq,
      parse,
      stages,
      latencyMs: live.latency,
      jira: live.jira,
      pollerRss: live.pollerRss,
      htmlDelivery,
      redis: staged.redis,
      newSenderBurst,
      customerMails,
      durationSec: Math.round((Date.now() - started) / 1000),
    };
    await writeFile(args.out, JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(render(results) + '\n');
    say(`wrote ${args.out}`);
  } finally {
    await rig.close();
  }
}

/** The ceilings and costs measured without role processes: BullMQ, the parser, an HTML delivery. */
async function benchesWithoutRoles(rig: Rig): Promise<Pick<BenchResults, 'bullmq' | 'parse' | 'htmlDelivery'>> {
  const bullmq = await benchBullmq({ jobs: SIZE.ceilingJobs, redisUrl: rig.redis.url });
  say(`bullmq ceiling ${JSON.stringify(bullmq)}`);
  let parse: BenchResults['parse'];
  if (existsSync(args.corpus)) {
    // --quick parses a slice of the corpus: it checks the harness, not the figure.
    const corpus = QUICK ? (await sampleCorpus(args.corpus, 60)).dir : args.corpus;
    parse = { ...(await benchParse(corpus)), corpus: QUICK ? `60-mail slice of ${args.corpus}` : args.corpus };
    if (QUICK) await rm(corpus, { recursive: true, force: true });
    say(`parse ${JSON.stringify(parse)}`);
  } else {
    parse = { skipped: `no corpus at ${args.corpus}` };
    say(parse.skipped);
  }
  const htmlDelivery = await benchHtmlDelivery({ redisUrl: rig.redis.url, sim: rig.sim, site: rig.site, mailMB: QUICK ? 2 : 10 });
  say(`html delivery ${JSON.stringify(htmlDelivery)}`);
  return { bullmq, parse, htmlDelivery };
}

/** What the role processes do: the staged and live runs, the new-sender burst, customer mails. */
async function benchesOnRoles(rig: Rig): Promise<{ staged: Awaited<ReturnType<typeof stagedRun>>; live: LiveFigures; newSenderBurst: NewSenderBurst; customerMails: BenchResults['customerMails'] }> {
  // One set of role processes for every measurement: they start once, as in production.
  const run = await rig.newRun('bench', { imapUser: 'bench@example.test' });
  let staged: Awaited<ReturnType<typeof stagedRun>>;
  let live: LiveFigures;
  try {
    staged = await stagedRun(rig, run);
    live = await liveRun(rig, run);
  } finally {
    await run.stopAll();
  }
  // The new-sender burst on role processes of its own (a fresh install prefix and mailbox), so
  // the backlog of the runs above is not in it.
  const burstRun = await rig.newRun('burst', { imapUser: 'burst@example.test' });
  let newSenderBurst: NewSenderBurst;
  try {
    newSenderBurst = await benchNewSenderBurst(rig, burstRun, QUICK ? { mails: 20, senders: 8, unknown: 6, ratePerSec: 10, timeoutMs: STAGE_TIMEOUT_MS } : { ...NEW_SENDER_BURST, timeoutMs: STAGE_TIMEOUT_MS });
  } finally {
    await burstRun.stopAll();
  }
  say(`new-sender burst ${JSON.stringify(newSenderBurst.firstAppendToAccountReady)}`);
  // Customer mails on a notifier process and install prefix of their own.
  const customerMails = await benchCustomerMails(rig, QUICK ? { issues: 20, timeoutMs: STAGE_TIMEOUT_MS } : { ...CUSTOMER_MAILS, timeoutMs: STAGE_TIMEOUT_MS });
  say(`customer mails ${JSON.stringify(customerMails)}`);
  return { staged, live, newSenderBurst, customerMails };
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
