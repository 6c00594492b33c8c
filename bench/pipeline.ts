// The resolve + provision pipeline against the Jira simulator over loopback HTTP, in this
// process, on the local Redis: mails/s through resolve and provision, Jira calls per mail,
// user searches per unique sender, and the time from a new sender's first mail being enqueued
// to its account being ready (created and in every group).
//   npx tsx bench/pipeline.ts [--mails 2000] [--senders 300] [--unknown 100] [--latency 20] [--jitter 10] [--faults]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startJiraSim, type JiraSim } from '../src/jira-sim/index.js';
import { seedDemo } from '../src/jira-sim/seed.js';
import { silentLogger } from '../src/core/log.js';
import { FAST_RETRY, makeWorkload, startInProcess, testMailbox, type InProcessPipeline, type Workload } from '../test/helpers/sim-run.js';
import { deleteByPrefix } from '../src/core/redis.js';
import { connections } from './lib/connections.js';

export interface PipelineBenchOptions {
  mails?: number;
  senders?: number;
  unknown?: number;
  latencyMs?: number;
  jitterMs?: number;
  /** 10% 5xx, 429 bursts and dropped connections, as in the acceptance run. */
  faults?: boolean;
  redisUrl?: string;
  /** Mails from this many new senders go through first, unmeasured: the workers are up and warm. */
  warmup?: number;
}

export interface PipelineBench {
  mails: number;
  senders: number;
  unknown: number;
  latencyMs: number;
  faults: boolean;
  seconds: number;
  mailsPerSec: number;
  jiraCalls: number;
  jiraCallsPerMail: number;
  userSearches: number;
  /** Searches Jira answered (200): the cache's real cost, without faulted attempts. */
  userSearchesAnswered: number;
  userSearchesPerSender: number;
  /** Requests let out while a 429's window was known to the pipeline (must be 0). */
  requestsInsideKnownWindow: number;
  accountsCreated: number;
  accountReadyMs: { p50: number; p99: number; max: number };
  violations: Record<string, number>;
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function benchPipeline(o: PipelineBenchOptions = {}): Promise<PipelineBench> {
  const mails = o.mails ?? 2000;
  const senders = o.senders ?? 300;
  const unknown = o.unknown ?? 100;
  const latencyMs = o.latencyMs ?? 20;
  const r = await startPipelineRig(o.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', latencyMs, o.jitterMs ?? 10);
  const { sim } = r;
  try {
    const w = makeWorkload({ mails, senders, unknown, mailboxId: 'support', to: 'support@acme.example', seed: 3, tag: 'bench' });
    for (const email of w.known) sim.state.addAccount({ email, displayName: email, products: ['jira-software'] });
    if (o.warmup) await warmUp(r, o.warmup);
    const before = sim.state.accounts.size;
    sim.counters.reset();
    const seconds = await measuredRun(r, w, !!o.faults);
    const ready = await accountReadyTimes(r, w, mails + (o.warmup ?? 0) + 10, unknown + (o.warmup ?? 0) + 10);
    const jiraCalls = sim.counters.count();
    const userSearches = sim.counters.count('findUsers');
    return {
      mails,
      senders,
      unknown,
      latencyMs,
      faults: !!o.faults,
      seconds: Math.round(seconds * 100) / 100,
      mailsPerSec: Math.round(mails / seconds),
      jiraCalls,
      jiraCallsPerMail: Math.round((jiraCalls / mails) * 1000) / 1000,
      userSearches,
      userSearchesAnswered: sim.counters.count('findUsers', 200),
      requestsInsideKnownWindow: r.passes.filter((t) => r.trips.some(([at, ms]) => t > at && t < at + ms)).length,
      userSearchesPerSender: Math.round((userSearches / senders) * 1000) / 1000,
      accountsCreated: sim.state.accounts.size - before,
      accountReadyMs: { p50: quantile(ready, 0.5), p99: quantile(ready, 0.99), max: ready[ready.length - 1] ?? 0 },
      violations: sim.counters.snapshot().violations,
    };
  } finally {
    await r.close();
  }
}

/** The simulator and the in-process pipeline, with what its Retry-After gate let out and tripped on. */
interface PipelineRig {
  sim: JiraSim;
  run: InProcessPipeline;
  /** When a request was let through the gate. */
  passes: number[];
  /** When a 429 was counted, and the window (ms) it asked for. */
  trips: [number, number][];
  close(): Promise<void>;
}

/** Set up: the simulator and the resolve + provision pipeline in this process on the given Redis. */
async function startPipelineRig(url: string, latencyMs: number, jitterMs: number): Promise<PipelineRig> {
  const prefix = `{mrbench-pipe-${randomBytes(3).toString('hex')}}`;
  const sim = await startJiraSim({ latencyMs, jitterMs });
  const site = seedDemo(sim);
  // Mailroom's path, not the site's propagation of new accounts (see RigOptions.userPropagationMs).
  sim.state.userPropagationMs = 0;
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  const conns = connections(url);
  const groups = ['jira-software-users', 'support-customers'];
  const passes: number[] = [];
  const trips: [number, number][] = [];
  const run = await startInProcess({
    redis,
    workerConnection: conns.make,
    prefix,
    mailboxes: [testMailbox({ id: 'support', addresses: ['support@acme.example'], policy: { autoCreate: 'user', groups, floodLimitPerHour: 100_000 } })],
    jira: { url: sim.url, email: site.admin.email, token: site.admin.token },
    logger: silentLogger,
    retry: FAST_RETRY,
    retryAfterObserver: { onPass: () => passes.push(Date.now()), onTrip: (ms) => trips.push([Date.now(), ms]) },
  });
  return {
    sim,
    run,
    passes,
    trips,
    async close() {
      await run.stop();
      conns.closeAll();
      await deleteByPrefix(redis, prefix);
      redis.disconnect();
      await sim.close();
    },
  };
}

/** Mails from this many new senders go through first, unmeasured: the workers are up and warm. */
async function warmUp(r: PipelineRig, n: number): Promise<void> {
  await r.run.enqueue(makeWorkload({ mails: n, senders: n, unknown: n, mailboxId: 'support', to: 'support@acme.example', seed: 5, tag: 'warm' }).mails);
  await r.run.settled({ timeoutMs: 600_000, pollMs: 50 });
}

/** Run: every mail enqueued at once (with the faults, if asked) until the pipeline settles; the seconds it took. */
async function measuredRun(r: PipelineRig, w: Workload, faults: boolean): Promise<number> {
  const { sim } = r;
  let burst: NodeJS.Timeout | undefined;
  if (faults) {
    sim.faults.set({ errorRate: 0.1 });
    burst = setInterval(() => {
      sim.faults.rateLimit({ count: 2, retryAfterSec: 1 });
      sim.faults.drop(2);
    }, 2_000);
  }
  const t0 = performance.now();
  await r.run.enqueue(w.mails);
  await r.run.settled({ timeoutMs: 600_000, pollMs: 50 });
  const seconds = (performance.now() - t0) / 1000;
  if (burst) clearInterval(burst);
  return seconds;
}

/** Measure: enqueue -> account ready, per new sender: its first mail's enqueue time to its provision job's end (sorted). */
async function accountReadyTimes(r: PipelineRig, w: Workload, mailJobs: number, provisionJobs: number): Promise<number[]> {
  const firstEnqueue = new Map<string, number>();
  for (const j of await r.run.queues.mailInbound.getJobs(['completed'], 0, mailJobs)) {
    const from = (j.data as { record?: { from?: { address?: string } } }).record?.from?.address?.toLowerCase();
    if (from) firstEnqueue.set(from, Math.min(firstEnqueue.get(from) ?? Infinity, j.timestamp));
  }
  const ready: number[] = [];
  for (const j of await r.run.queues.identityProvision.getJobs(['completed'], 0, provisionJobs)) {
    const email = (j.data as { email: string }).email;
    const start = w.unknown.includes(email) ? firstEnqueue.get(email) : undefined;
    if (start !== undefined && j.finishedOn) ready.push(j.finishedOn - start);
  }
  return ready.sort((a, b) => a - b);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      mails: { type: 'string', default: '2000' },
      senders: { type: 'string', default: '300' },
      unknown: { type: 'string', default: '100' },
      latency: { type: 'string', default: '20' },
      jitter: { type: 'string', default: '10' },
      faults: { type: 'boolean', default: false },
    },
  });
  const r = await benchPipeline({
    mails: Number(values.mails),
    senders: Number(values.senders),
    unknown: Number(values.unknown),
    latencyMs: Number(values.latency),
    jitterMs: Number(values.jitter),
    faults: values.faults,
  });
  console.log(
    [
      `resolve+provision: ${r.mails} mails from ${r.senders} senders (${r.unknown} unknown), Jira latency ${r.latencyMs} ms${r.faults ? ', with faults' : ''}`,
      `  ${r.mailsPerSec} mails/s (${r.seconds} s)`,
      `  Jira calls per mail: ${r.jiraCallsPerMail} (${r.jiraCalls} calls); user searches per unique sender: ${r.userSearchesPerSender} (answered: ${r.userSearchesAnswered} for ${r.senders} senders)`,
      `  accounts created: ${r.accountsCreated}`,
      `  enqueue -> account ready: p50 ${r.accountReadyMs.p50} ms, p99 ${r.accountReadyMs.p99} ms, max ${r.accountReadyMs.max} ms`,
      `  simulator violations: ${JSON.stringify(r.violations)}; requests inside a known Retry-After window: ${r.requestsInsideKnownWindow}`,
    ].join('\n'),
  );
}
