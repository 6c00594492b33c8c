// Delivery benchmark: the deliverer (in this process) against the Jira simulator over HTTP and
// the local Redis. Two runs: a burst of N mails enqueued at once (mails/s), and a paced run
// (enqueue -> issue created latency, p50/p99, when the deliverer is not saturated). Then,
// where Dovecot can run, the whole way from IMAP APPEND to the issue (benchAppendToIssue).
//   npx tsx bench/deliver.ts [mails=500] [pacedPerSecond=20]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { QueueEvents, type Job } from 'bullmq';
import type { ImapFlow } from 'imapflow';
import { Redis } from 'ioredis';
import { parseConfig } from '../src/config/load.js';
import { startDelivererWorker } from '../test/helpers/stage-workers.js';
import { rawMail, storedRecord } from '../test/helpers/deliver-testkit.js';
import { createJiraClient } from '../src/jira/client.js';
import { seedDemo, startJiraSim, type JiraSim, type SeededSite } from '../src/jira-sim/index.js';
import { silentLogger } from '../src/core/log.js';
import type { MailRecord } from '../src/mail/record.js';
import { startPollerWithActions } from '../test/helpers/poller-run.js';
import { createMailStore, FsMailStore, type MailStore } from '../src/mail/store.js';
import { startInProcess, testMailbox } from '../test/helpers/sim-run.js';
import { jiraDeliver, mailboxActions } from '../src/queues/catalog.js';
import { addJob, openQueue } from '../src/queues/queue.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot } from '../test/helpers/dovecot.js';
import { deleteByPrefix } from '../src/core/redis.js';
import type { MailboxConfig } from '../src/config/schema.js';
import type { StationWorker } from '../src/station/worker.js';
import { connections } from './lib/connections.js';
import { latencyMs, round } from './lib/stats.js';

export interface DeliverBench {
  mails: number;
  burst: { seconds: number; mailsPerSecond: number; jiraCallsPerMail: number };
  paced: { perSecond: number; mails: number; p50Ms: number; p99Ms: number; maxMs: number };
}

export async function benchDeliver(o: { mails?: number; pacedPerSecond?: number; latencyMs?: number; redisUrl?: string } = {}): Promise<DeliverBench> {
  const mails = o.mails ?? 500;
  const perSecond = o.pacedPerSecond ?? 20;
  const r = await startDeliverRig(o);
  try {
    const burst = await burstRun(r, mails);
    const paced = await pacedRun(r, mails, perSecond);
    return { mails, burst, paced };
  } finally {
    await r.close();
  }
}

/** The deliverer in this process on the local Redis, a simulator, a mail store, and how to feed it. */
interface DeliverRig {
  sim: JiraSim;
  makeRecords(tag: string, n: number): Promise<MailRecord[]>;
  enqueue(r: MailRecord, uid: number): Promise<Job>;
  events: QueueEvents;
  close(): Promise<void>;
}

/** Set up: the simulator, Redis, the queues, their events and the deliverer worker. */
async function startDeliverRig(o: { latencyMs?: number; redisUrl?: string }): Promise<DeliverRig> {
  const prefix = `{mrbench-deliver-${process.pid}}`;
  const sim = await startJiraSim({ latencyMs: o.latencyMs ?? 0 });
  const site = seedDemo(sim);
  const redis = new Redis(o.redisUrl ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  const store = new FsMailStore(mkdtempSync(join(tmpdir(), 'mr-bench-deliver-')));
  const mailbox = testMailbox({ id: 'support', deliver: { project: 'SUP' } });
  const deliverQ = openQueue(jiraDeliver, { connection: redis, prefix });
  const actionsQ = openQueue(mailboxActions, { connection: redis, prefix });
  // Hundreds of concurrent adds and waits on one handle are expected here.
  deliverQ.setMaxListeners(0);
  const events = new QueueEvents(jiraDeliver.name, { connection: redis.duplicate(), prefix });
  await events.waitUntilReady();
  events.setMaxListeners(0);
  const people = [{ email: 'alice@acme.example', role: 'sender' as const, status: 'known', accountId: site.users.alice.accountId }];
  const worker = startBenchDeliverer(sim, site, { redis, prefix, mailbox, store, connection: redis.duplicate() });
  return {
    sim,
    events,
    makeRecords: (tag, n) => benchRecords(store, tag, n),
    enqueue: (r, uid) => addJob(deliverQ, jiraDeliver, { mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '1', uid, internalDate: new Date().toISOString() }, record: r, people }),
    async close() {
      await worker.close();
      await events.close();
      await deliverQ.obliterate({ force: true }).catch(() => undefined);
      await actionsQ.obliterate({ force: true }).catch(() => undefined);
      await deliverQ.close();
      await actionsQ.close();
      await deleteByPrefix(redis, prefix);
      redis.disconnect();
      await sim.close();
    },
  };
}

/** The deliverer worker on the simulator's admin token (both benches here run it the same way). */
function startBenchDeliverer(
  sim: JiraSim,
  site: SeededSite,
  d: { redis: Redis; prefix: string; mailbox: MailboxConfig; store: MailStore; connection: Redis },
): StationWorker {
  const client = createJiraClient({ baseUrl: sim.url, email: site.admin.email, token: site.admin.token, timeoutMs: 10_000 });
  return startDelivererWorker(
    { redis: d.redis, prefix: d.prefix, mailbox: () => d.mailbox, store: d.store, jira: async () => client },
    { connection: d.connection, logger: silentLogger },
  );
}

async function benchRecords(store: MailStore, tag: string, n: number): Promise<MailRecord[]> {
  const out: MailRecord[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await storedRecord(store, rawMail({
      from: 'Alice Agent <alice@acme.example>',
      subject: `Bench ${tag} ${i}`,
      messageId: `bench-${tag}-${i}@acme.example`,
      text: `Hello,\nmail ${i} of the benchmark.\n\nOn Mon, Bob wrote:\n> earlier`,
      attachments: [{ filename: 'log.txt', contentType: 'text/plain', content: Buffer.alloc(2048, 65) }],
    })));
  }
  return out;
}

/** Burst: everything at once; mails/s from first enqueue to last completion. */
async function burstRun(r: DeliverRig, mails: number): Promise<DeliverBench['burst']> {
  const records = await r.makeRecords('burst', mails);
  const callsBefore = r.sim.counters.count();
  const t0 = performance.now();
  const jobs = await Promise.all(records.map((m, i) => r.enqueue(m, i + 1)));
  await Promise.all(jobs.map((j) => j.waitUntilFinished(r.events, 600_000)));
  const seconds = (performance.now() - t0) / 1000;
  return { seconds: round(seconds, 1), mailsPerSecond: round(mails / seconds, 1), jiraCallsPerMail: round((r.sim.counters.count() - callsBefore) / mails, 1) };
}

/** Paced: one mail every 1/perSecond s; latency = enqueue -> issue created (job finished). */
async function pacedRun(r: DeliverRig, mails: number, perSecond: number): Promise<DeliverBench['paced']> {
  const pacedN = Math.min(mails, perSecond * 10);
  const records = await r.makeRecords('paced', pacedN);
  const lat: number[] = [];
  const waits: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < pacedN; i++) {
    const due = start + (i * 1000) / perSecond;
    const now = performance.now();
    if (due > now) await new Promise((res) => setTimeout(res, due - now));
    const t = performance.now();
    const job = await r.enqueue(records[i]!, 100_000 + i);
    waits.push(job.waitUntilFinished(r.events, 60_000).then(() => void lat.push(performance.now() - t)));
  }
  await Promise.all(waits);
  return { perSecond, mails: pacedN, ...latencyMs(lat) };
}

export type AppendBench =
  | { skipped: string }
  | { sequential: { mails: number; p50Ms: number; p99Ms: number; maxMs: number }; burst: { mails: number; seconds: number; mailsPerSecond: number } };

/**
 * The whole way, as the issue measures it: APPEND in a real Dovecot -> poller -> resolver ->
 * deliverer -> issue created in the simulator (its `mailroom.message` property seen). One mail
 * at a time for latency, then a burst for mails/s. Needs root and Dovecot (skipped otherwise).
 */
export async function benchAppendToIssue(o: { sequential?: number; burst?: number; redisUrl?: string } = {}): Promise<AppendBench> {
  const why = dovecotUnavailable();
  if (why) return { skipped: why };
  const sequentialN = o.sequential ?? 30;
  const burstN = o.burst ?? 100;
  const r = await startAppendRig(o.redisUrl ?? 'redis://127.0.0.1:6379');
  try {
    const lat = await appendOneByOne(r, sequentialN);
    const burst = await appendBurst(r, burstN);
    return { sequential: { mails: sequentialN, ...latencyMs(lat) }, burst };
  } finally {
    await r.close();
  }
}

/** Dovecot, the poller, the resolver and the deliverer in this process, and an IMAP client to append with. */
interface AppendRig {
  imap: ImapFlow;
  /** Until every Message-ID has its issue (seen by its property), or throws after timeoutMs. */
  waitFor(ids: string[], timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Set up: Dovecot, the simulator, the poller, the resolver and the deliverer on the local Redis. */
async function startAppendRig(redisUrl: string): Promise<AppendRig> {
  const prefix = `{mrbench-append-${process.pid}}`;
  const dovecot = await startDovecot();
  const sim = await startJiraSim({});
  const site = seedDemo(sim);
  const storeDir = mkdtempSync(join(tmpdir(), 'mr-bench-append-'));
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const conns = connections(redisUrl);
  const { raw, env } = pollerTestConfig(dovecot, {
    storeDir,
    mailbox: { addresses: ['support@example.test'], after: { action: 'move', folder: 'Processed' }, deliver: { project: 'SUP' } },
  });
  const config = parseConfig({ ...raw, jira: { site: sim.url } }, { ...env, MAILROOM_PREFIX: prefix, REDIS_URL: redisUrl });
  const store = createMailStore(config);
  const poller = await startPollerWithActions({ config, redis, store, logger: silentLogger }, config.redis);
  const pipeline = await startInProcess({
    redis,
    workerConnection: conns.make,
    prefix,
    mailboxes: config.mailboxes,
    jira: { url: sim.url, email: site.admin.email, token: site.admin.token },
    logger: silentLogger,
    roles: ['resolver'],
  });
  const actionsQ = openQueue(mailboxActions, { connection: redis, prefix });
  const deliverer = startBenchDeliverer(sim, site, { redis, prefix, mailbox: config.mailboxes[0]!, store, connection: conns.make() });
  const imap = await dovecot.client();
  return {
    imap,
    waitFor: (ids, timeoutMs) => issuesFor(sim, ids, timeoutMs),
    async close() {
      await imap.logout().catch(() => imap.close());
      await deliverer.close();
      await pipeline.stop();
      await poller.stop();
      await actionsQ.obliterate({ force: true }).catch(() => undefined);
      await actionsQ.close();
      conns.closeAll();
      await deleteByPrefix(redis, prefix);
      redis.disconnect();
      await sim.close();
      await dovecot.stop();
    },
  };
}

async function issuesFor(sim: JiraSim, ids: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const delivered = new Set<string>();
    for (const i of sim.state.allIssues()) {
      const id = (i.properties.get('mailroom.message') as { id?: string } | undefined)?.id;
      if (id) delivered.add(id);
    }
    if (ids.every((id) => delivered.has(id))) return;
    if (Date.now() > deadline) throw new Error(`not delivered in time: ${ids.filter((id) => !delivered.has(id)).length} of ${ids.length}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const appendMail = (tag: string) =>
  rawMail({ from: 'Alice Agent <alice@acme.example>', to: 'support@example.test', subject: `Append ${tag}`, messageId: `append-${tag}@acme.example`, text: `Mail ${tag}` });

/** Run: one mail at a time, each waited for; the latencies (append -> issue created). */
async function appendOneByOne(r: AppendRig, n: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await r.imap.append('INBOX', appendMail(`s${i}`));
    await r.waitFor([`append-s${i}@acme.example`], 60_000);
    lat.push(performance.now() - t);
  }
  return lat;
}

/** Run: n mails appended back to back; mails/s until the last one's issue is created. */
async function appendBurst(r: AppendRig, n: number): Promise<{ mails: number; seconds: number; mailsPerSecond: number }> {
  const ids = Array.from({ length: n }, (_, i) => `append-b${i}@acme.example`);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await r.imap.append('INBOX', appendMail(`b${i}`));
  await r.waitFor(ids, 600_000);
  const seconds = (performance.now() - t0) / 1000;
  return { mails: n, seconds: round(seconds, 1), mailsPerSecond: round(n / seconds, 1) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await benchDeliver({ mails: Number(process.argv[2] ?? 500), pacedPerSecond: Number(process.argv[3] ?? 20) });
  process.stdout.write(
    `deliver: burst of ${r.mails} mails in ${r.burst.seconds} s = ${r.burst.mailsPerSecond} mails/s (${r.burst.jiraCallsPerMail} Jira calls per mail)\n` +
      `deliver: paced ${r.paced.perSecond}/s x ${r.paced.mails}: enqueue -> issue created p50 ${r.paced.p50Ms} ms, p99 ${r.paced.p99Ms} ms, max ${r.paced.maxMs} ms\n`,
  );
  const a = await benchAppendToIssue({ burst: Math.min(r.mails, 100) });
  process.stdout.write(
    'skipped' in a
      ? `deliver: append -> issue skipped (${a.skipped})\n`
      : `deliver: IMAP append -> issue created, one at a time x ${a.sequential.mails}: p50 ${a.sequential.p50Ms} ms, p99 ${a.sequential.p99Ms} ms, max ${a.sequential.maxMs} ms\n` +
          `deliver: IMAP burst of ${a.burst.mails} appended -> all issues created in ${a.burst.seconds} s = ${a.burst.mailsPerSecond} mails/s\n`,
  );
  process.exit(0);
}
