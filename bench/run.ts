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
import { benchBullmq, type BullmqCeiling } from './bullmq.js';
import { benchHtmlDelivery, type HtmlDeliveryBench } from './html.js';
import { benchNewSenderBurst, NEW_SENDER_BURST, newSenderRows, type NewSenderBurst } from './new-senders.js';
import { benchParse, type ParseBench } from './parse.js';
import { benchCustomerMails, CUSTOMER_MAILS, customerMailRows, type CustomerMailsBench } from './respond.js';
import { sampleCorpus } from './lib/corpus-sample.js';
import { describeMachine, type Machine } from './lib/machine.js';
import { appender, makeMails, population, type BenchMail } from './lib/mails.js';
import type { Queue } from 'bullmq';
import { closeQueues, counts, issuesByMessage, jobTimes, memoryOfKeys, openQueues, waitUntil, type BenchQueue } from './lib/observe.js';
import { ALL_ROLES, MAILBOX_ID, startRig, ROOT, type Rig, type Run } from './lib/rig.js';
import { readRss, resetPeak, sampleRss } from './lib/rss.js';
import { perSec, round, spread, table, type Spread } from './lib/stats.js';
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

interface StageFigures {
  mails: number;
  senders: number;
  newSenders: number;
  appendPerSec: number;
  pollerMailsPerSec: number;
  resolveMailsPerSec: number;
  deliverMailsPerSec: number;
  /** Jira calls the deliverer made per mail it delivered (the staged deliver run). */
  deliverCallsPerMail: number;
  endToEndMails: number;
  endToEndMailsPerSec: number;
}

export interface BenchResults {
  mode: 'quick' | 'default';
  machine: Machine;
  jiraSim: { latencyMs: number; jitterMs: number };
  bullmq: BullmqCeiling;
  parse: (ParseBench & { corpus: string }) | { skipped: string };
  stages: StageFigures & { ratioToCeiling: { poller: number; resolve: number; deliver: number; endToEnd: number } };
  latencyMs: {
    mails: number;
    senders: number;
    newSenders: number;
    appendsPerSec: number;
    appendToEnqueued: Spread;
    enqueuedToAccountReady: Spread;
    enqueuedToAccountReadyNewSender: Spread;
    appendToIssue: Spread;
  };
  jira: { mails: number; uniqueSenders: number; newSenders: number; callsPerMail: number; userSearchesPerUniqueSender: number; createUserPerNewSender: number; byOperation: Record<string, number> };
  /**
   * baselineRssMB: half a second after the warm-up mails (just after work); idleRssMB: after
   * POLLER_IDLE_MS with nothing to do, past the parse threads' idle time (they stop).
   */
  pollerRss: { mailBytes: number; baselineRssMB: number; idleRssMB: number; peakRssMB: number; peakHwmMB: number; samples: number };
  /** The deliverer's event-loop delay while one big HTML mail (a tag bomb) is delivered. */
  htmlDelivery: HtmlDeliveryBench;
  /** MEMORY USAGE of every key of the install, before and after the mails were queued, per mail; and the job hashes alone. */
  redis: { queuedMails: number; bytesPerMailAllKeys: number; bytesPerMailJobKeys: number; jobKeys: number };
  /** Issue #25: new senders arriving in a burst, first append -> account ready and each step between (fresh role processes). */
  newSenderBurst: NewSenderBurst;
  /** Issue #26: agents' public comments mailed to email-only participants by the notifier process. */
  customerMails: CustomerMailsBench;
  durationSec: number;
}

type Appended = Map<string, { uid: number | undefined; at: number; sender: string }>;

async function appendAll(rig: Rig, run: Run, mails: BenchMail[], o: { ratePerSec?: number; folder?: string } = {}): Promise<{ appended: Appended; perSec: number }> {
  // Paced mails go one by one on one connection; a bulk load uses a few connections at once.
  const lanes = o.ratePerSec ? 1 : Math.min(4, mails.length);
  const appended: Appended = new Map();
  const t0 = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: lanes }, async () => {
    const a = appender(rig.dovecot, run.imapUser);
    try {
      for (let i = next++; i < mails.length; i = next++) {
        const m = mails[i]!;
        if (o.ratePerSec) {
          const due = t0 + (i * 1000) / o.ratePerSec;
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        }
        const r = await a.append(m.raw, o.folder);
        appended.set(m.messageId, { ...r, sender: m.sender });
      }
    } finally {
      await a.close();
    }
  }));
  return { appended, perSec: perSec(mails.length, Date.now() - t0) };
}

/** Let mails that waited in a side folder arrive in the inbox all at once (one IMAP MOVE). */
async function release(rig: Rig, run: Run, folder: string): Promise<number> {
  const a = appender(rig.dovecot, run.imapUser);
  try {
    return await a.moveAll(folder, 'INBOX');
  } finally {
    await a.close();
  }
}

/** Mails per second from a moment to the last of the given end times. */
function rateSince(count: number, since: number, ends: (number | undefined)[]): number {
  const e = ends.filter((t): t is number => t !== undefined);
  return e.length ? perSec(count, Math.max(...e) - since) : 0;
}

async function describeRun(rig: Rig, run: Run): Promise<string> {
  const qs = openQueues(rig.conn, run.prefix);
  const c = await counts(qs);
  await closeQueues(qs);
  const errs = [...run.running.values()].map((p) => `${p.role}${p.child.exitCode !== null ? ` exited ${p.child.exitCode}` : ''}: ${p.stderr().slice(-600)}`).join('\n');
  return `${JSON.stringify(c)}\n${errs}`;
}

/** waitUntil, failing at once (with its stderr) when a role process has died meanwhile. */
function until(run: Run, what: string, fn: () => Promise<boolean>, timeoutMs: number, onTimeout?: () => Promise<string>): Promise<void> {
  return waitUntil(what, async () => {
    for (const p of run.running.values()) {
      if (p.child.exitCode !== null) throw new Error(`the ${p.role} process exited (${p.child.exitCode}) while waiting for ${what}: ${p.stderr().slice(-1500)}`);
    }
    return fn();
  }, timeoutMs, onTimeout);
}

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
  const latPop = population(rig.sim.state, { senders: SIZE.latencySenders, unknown: SIZE.latencyUnknown, tag: 'lt' });
  const latMails = makeMails(latPop, { count: SIZE.latencyMails, tag: 'lt', seed: 5 });
  const burstPop = population(rig.sim.state, { senders: SIZE.e2eSenders, unknown: SIZE.e2eUnknown, tag: 'ee' });
  const burst = makeMails(burstPop, { count: SIZE.e2eMails, tag: 'ee' });
  const qs = openQueues(rig.conn, run.prefix);
  const issued = (list: BenchMail[]) => {
    const by = issuesByMessage(rig.sim);
    return list.every((m) => by.has(m.messageId));
  };
  try {
    const poller = run.running.get('poller')!;
    // Every role is up and idle once the warm-up mails are issues.
    await appendAll(rig, run, warm);
    await until(run, 'the warm-up mails', async () => issued(warm), STAGE_TIMEOUT_MS, () => describeRun(rig, run));

    // The poller's memory while a big mail passes.
    await new Promise((r) => setTimeout(r, 500));
    const pid = poller.child.pid!;
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
      sender: warm[0]!.sender,
      raw: rawMail({ from: `Big <${warm[0]!.sender}>`, to: 'support@example.test', subject: 'Scans', messageId: 'big-1@bench.example', text: 'Scans attached.', attachments: [{ filename: 'scan.bin', contentType: 'application/octet-stream', content: attachment }] }),
    };
    const sampler = sampleRss(pid, 10);
    await appendAll(rig, run, [bigMail]);
    await until(run, 'the poller to read the big mail', async () => (await jobTimes(qs['mail-inbound'], ['waiting', 'active', 'delayed', 'completed'])).some((j) => j.messageId === bigMail.messageId), STAGE_TIMEOUT_MS, () => describeRun(rig, run));
    await new Promise((r) => setTimeout(r, 300));
    const rss = await sampler.stop();
    await until(run, 'the big mail to become an issue', async () => issued([bigMail]), STAGE_TIMEOUT_MS, () => describeRun(rig, run));
    const pollerRss = { mailBytes: bigMail.raw.length, baselineRssMB: round(baseline / 1024, 1), idleRssMB: round(idle / 1024, 1), peakRssMB: rss.peakRssMB, peakHwmMB: rss.hwmMB, samples: rss.samples };
    say(`poller rss ${JSON.stringify(pollerRss)}`);

    // Steady arrivals.
    const { appended, perSec: appendsPerSec } = await appendAll(rig, run, latMails, { ratePerSec: SIZE.latencyRate });
    await until(run, 'every paced mail to become an issue', async () => issued(latMails), STAGE_TIMEOUT_MS, () => describeRun(rig, run));
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

    // A burst, released at once.
    await appendAll(rig, run, burst, { folder: 'Burst' });
    rig.sim.counters.reset();
    const released = await release(rig, run, 'Burst');
    await until(run, 'every burst mail to become an issue', async () => issued(burst), STAGE_TIMEOUT_MS, () => describeRun(rig, run));
    const by = issuesByMessage(rig.sim);
    const lastIssue = Math.max(...burst.map((m) => Date.parse(by.get(m.messageId)![0]!.created)));
    const total = rig.sim.counters.count();
    const senders = new Set(burst.map((m) => m.sender)).size;
    return {
      latency,
      pollerRss,
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
  } finally {
    await closeQueues(qs);
  }
}

function render(r: BenchResults): string {
  const ratio = (n: number) => `${round(n * 100, 1)}%`;
  const ms = (s: Spread) => [s.p50, s.p95, s.p99].map((v) => (v === undefined ? '-' : `${v}`)).join(' / ');
  const parse = 'skipped' in r.parse ? undefined : r.parse;
  const lines: (string | number | undefined)[][] = [
    ['figure', 'value', 'workload'],
    ['BullMQ ceiling: add (jobs/s)', r.bullmq.addPerSec, `${r.bullmq.jobs} empty jobs`],
    ['BullMQ ceiling: process (jobs/s)', r.bullmq.processPerSec, `${r.bullmq.jobs} empty jobs, concurrency ${r.bullmq.concurrency}`],
    ['poller: IMAP -> enqueued (mails/s)', `${r.stages.pollerMailsPerSec} (${ratio(r.stages.ratioToCeiling.poller)} of add)`, `${r.stages.mails} mails waiting in the inbox`],
    ['resolver+provisioner (mails/s)', `${r.stages.resolveMailsPerSec} (${ratio(r.stages.ratioToCeiling.resolve)} of process)`, `${r.stages.mails} mails, ${r.stages.senders} senders, ${r.stages.newSenders} new`],
    ['deliverer (mails/s)', `${r.stages.deliverMailsPerSec} (${ratio(r.stages.ratioToCeiling.deliver)} of process)`, `${r.stages.mails} mails`],
    ['end to end (mails/s)', `${r.stages.endToEndMailsPerSec} (${ratio(r.stages.ratioToCeiling.endToEnd)} of process)`, `${r.stages.endToEndMails} mails, all roles at once`],
    ['parse: Mailroom (MB/s, mails/s)', parse ? `${parse.mailroomMBps}, ${parse.mailroomMailsPerSec}` : 'skipped', parse ? `${parse.mails} corpus mails, ${round(parse.bytes / 1e6, 1)} MB` : undefined],
    ['parse: bare mailparser (MB/s, mails/s)', parse ? `${parse.bareMBps}, ${parse.bareMailsPerSec}` : 'skipped', parse ? 'same mails, same run' : undefined],
    ['append -> enqueued p50/p95/p99 (ms)', ms(r.latencyMs.appendToEnqueued), `${r.latencyMs.mails} mails at ${r.latencyMs.appendsPerSec}/s`],
    ['enqueued -> account ready p50/p95/p99 (ms)', ms(r.latencyMs.enqueuedToAccountReady), `same mails (${r.latencyMs.newSenders} of ${r.latencyMs.senders} senders new)`],
    ['  first mail of a new sender', ms(r.latencyMs.enqueuedToAccountReadyNewSender), `${r.latencyMs.enqueuedToAccountReadyNewSender.n} mails`],
    ['append -> issue created p50/p95/p99 (ms)', ms(r.latencyMs.appendToIssue), 'same mails'],
    ['deliverer: Jira calls per delivered mail', r.stages.deliverCallsPerMail, `${r.stages.mails} mails, no attachments (staged deliver run)`],
    ['Jira calls per mail', r.jira.callsPerMail, `${r.jira.mails} mails, ${r.jira.uniqueSenders} senders, ${r.jira.newSenders} new`],
    ['user searches per unique sender', r.jira.userSearchesPerUniqueSender, 'same run'],
    ['user creates per new sender', r.jira.createUserPerNewSender, 'same run'],
    ['poller peak RSS (MB, VmHWM)', `${r.pollerRss.peakHwmMB} (idle ${r.pollerRss.idleRssMB}, just after work ${r.pollerRss.baselineRssMB})`, `one ${round(r.pollerRss.mailBytes / 2 ** 20, 1)} MB mail`],
    ['deliverer event-loop delay p50/p99/max (ms)', `${r.htmlDelivery.eventLoopDelayMs.p50} / ${r.htmlDelivery.eventLoopDelayMs.p99} / ${r.htmlDelivery.eventLoopDelayMs.max} (target p99 < 50)`, `one ${r.htmlDelivery.mailMB} MB HTML mail delivered in ${r.htmlDelivery.deliverMs} ms; idle p99 ${r.htmlDelivery.idleDelayMs.p99}`],
    ['Redis bytes per queued mail', `${r.redis.bytesPerMailAllKeys} (job hash ${r.redis.bytesPerMailJobKeys})`, `${r.redis.queuedMails} mail-inbound jobs waiting`],
    ...newSenderRows(r.newSenderBurst),
    ...customerMailRows(r.customerMails),
  ];
  const m = r.machine;
  return [
    `Mailroom benchmark (${r.mode}), ${m.at}`,
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node}, Redis ${m.redis}, load ${m.loadAtStart} at start`,
    `Jira simulator latency ${r.jiraSim.latencyMs} ms +- ${r.jiraSim.jitterMs} ms; run took ${r.durationSec} s`,
    '',
    table(lines),
  ].join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  const latencyMs = Number(args.latency);
  const jitterMs = Number(args.jitter);
  const rig = await startRig({
    latencyMs,
    jitterMs,
    imapUsers: ['bench@example.test', 'burst@example.test'],
  });
  try {
    const machine = describeMachine(await rig.redis.version());
    say(`own redis ${rig.redis.url}, dovecot 127.0.0.1:${rig.dovecot.port}, jira sim ${rig.sim.url}`);
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
    const e2e = { ...live.endToEnd, jira: live.jira };
    const latency = live.latency;
    const pollerRss = live.pollerRss;
    say(`end to end ${e2e.mailsPerSec} mails/s`);
    const stages = {
      ...staged.fig,
      endToEndMails: e2e.mails,
      endToEndMailsPerSec: e2e.mailsPerSec,
      ratioToCeiling: {
        poller: round(staged.fig.pollerMailsPerSec / bullmq.addPerSec, 4),
        resolve: round(staged.fig.resolveMailsPerSec / bullmq.processPerSec, 4),
        deliver: round(staged.fig.deliverMailsPerSec / bullmq.processPerSec, 4),
        endToEnd: round(e2e.mailsPerSec / bullmq.processPerSec, 4),
      },
    };
    const results: BenchResults = {
      mode: QUICK ? 'quick' : 'default',
      machine,
      jiraSim: { latencyMs, jitterMs },
      bullmq,
      parse,
      stages,
      latencyMs: latency,
      jira: e2e.jira,
      pollerRss,
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

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
