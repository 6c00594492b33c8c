// The deliverer's event loop while a 10 MB HTML mail (issue #14's anchor bomb, `<a href=x>`
// repeated) is delivered: the same worker and parse pool the deliverer role runs, in this
// process, against the harness's Redis and the Jira simulator. The figure is the event loop's
// delay (perf_hooks histogram, 10 ms resolution) from enqueue to the issue made: what lock
// renewals and /healthz would have waited. Target: p99 under 50 ms.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { startDelivererWorker } from '../test/helpers/stage-workers.js';
import { rawMail } from '../test/helpers/deliver-testkit.js';
import { createJiraClient } from '../src/jira/index.js';
import type { JiraSim, SeededSite } from '../src/jira-sim/index.js';
import { silentLogger } from '../src/core/log.js';
import { FsMailStore } from '../src/mail/store.js';
import { parseMail } from '../src/mail/parse.js';
import { createParsePool } from '../src/mail/parse-pool.js';
import { testMailbox } from '../test/helpers/sim-run.js';
import { jiraDeliver } from '../src/queues/catalog.js';
import { addJob, openQueue } from '../src/queues/queue.js';
import { deleteByPrefix } from '../src/core/redis.js';
import { round } from './lib/stats.js';

export interface HtmlDeliveryBench {
  mailMB: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** The same histogram over as long with nothing delivered: what the machine's load alone costs. */
  idleDelayMs: { p50: number; p99: number; max: number };
  deliverMs: number;
}

export async function benchHtmlDelivery(o: { redisUrl: string; sim: JiraSim; site: SeededSite; mailMB?: number }): Promise<HtmlDeliveryBench> {
  const prefix = `bench-html-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'mr-bench-html-'));
  const store = new FsMailStore(dir);
  const conn = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
  const workerConn = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
  const eventsConn = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
  // A mail over the intake's parse limit has no stored content: the deliverer parses it.
  const pool = createParsePool({ size: 1, timeoutMs: 60_000 });
  const queue = openQueue(jiraDeliver, { connection: conn, prefix });
  const events = new QueueEvents(jiraDeliver.name, { connection: eventsConn, prefix });
  const client = createJiraClient({ baseUrl: o.sim.url, email: o.site.admin.email, token: o.site.admin.token, timeoutMs: 30_000 });
  const mailbox = testMailbox({ id: 'support', deliver: { project: 'SUP' } });
  const worker = startDelivererWorker(
    { redis: conn, prefix, mailbox: () => mailbox, store, jira: async () => client, parseContent: (raw) => pool.content(raw) },
    { connection: workerConn, logger: silentLogger, concurrency: 8 },
  );
  try {
    await events.waitUntilReady();
    const html = '<a href=x>'.repeat(Math.round(((o.mailMB ?? 10) * 1024 * 1024) / 10));
    const raw = rawMail({ from: 'Eve <eve@bench.example>', subject: 'HTML bomb', messageId: 'html-bomb@bench.example', html });
    const record = await parseMail(raw, await store.put(raw));
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    const t = performance.now();
    const job = await addJob(queue, jiraDeliver, {
      mailboxId: 'support',
      origin: { kind: 'file', name: 'html-bomb.eml' },
      record,
      people: [{ email: 'eve@bench.example', role: 'sender', status: 'known', accountId: o.site.users.alice.accountId }],
    });
    await job.waitUntilFinished(events, 120_000);
    const deliverMs = Math.round(performance.now() - t);
    h.disable();
    const idle = monitorEventLoopDelay({ resolution: 10 });
    idle.enable();
    await new Promise((r) => setTimeout(r, deliverMs));
    idle.disable();
    const ms = (ns: number) => round(ns / 1e6, 1);
    const figures = (x: typeof h) => ({ p50: ms(x.percentile(50)), p99: ms(x.percentile(99)), max: ms(x.max) });
    return { mailMB: round(raw.length / 2 ** 20, 1), eventLoopDelayMs: figures(h), idleDelayMs: figures(idle), deliverMs };
  } finally {
    await worker.close();
    await events.close();
    await queue.close();
    await deleteByPrefix(conn, prefix);
    await pool.close();
    for (const c of [conn, workerConn, eventsConn]) c.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}
