// Issue #14, finding 1: HTML bombs through intake (the poller's parse pool) and delivery (the
// deliverer with its parse pool) in one process that also serves /healthz, as `mailroom
// start` runs them. Job locks are short (5 s), so a step that held the event loop would lose
// its lock and run a job twice; every /healthz probe must be answered. The event loop's delay
// while a 10 MB HTML mail is delivered is measured in `npm run bench` (bench/html.ts).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueEvents, type Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adfToText } from '../../src/deliver/adf.js';
import type { DeliverResult } from '../../src/deliver/deliverer.js';
import { startDelivererWorker } from '../helpers/stage-workers.js';
import { rawMail } from '../helpers/deliver-testkit.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { silentLogger } from '../../src/core/log.js';
import { createParsePool, type ParsePool } from '../../src/mail/parse-pool.js';
import { prepareMail } from '../../src/mail/prepare.js';
import { FsMailStore } from '../../src/mail/store.js';
import { FAST_RETRY, testMailbox } from '../helpers/sim-run.js';
import { jiraDeliver } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { buildWebServer } from '../../src/web/server.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const BOMBS: Record<string, string> = {
  'anchor bomb, 2 MB': '<a href=x>'.repeat(200_000),
  'unterminated tags, 0.58 MB': 'Hello from the bomb' + '<p x'.repeat(145_000),
  'tag bomb, 262 KB': 'Nested' + '<b>'.repeat(87_400),
  'anchor bomb, 10 MB': '<a href=x>'.repeat(1_000_000),
};

const redis = testRedis();
const prefix = uniquePrefix('html-bombs');
const store = new FsMailStore(mkdtempSync(join(tmpdir(), 'mr-bombs-')));
const conns = [testRedis({ forWorker: true }), testRedis({ forWorker: true })];
let jira: SeededSim;
let parsePool: ParsePool;
let contentPool: ParsePool;
let web: FastifyInstance;
let worker: Worker;
let events: QueueEvents;
const deliverQ = openQueue(jiraDeliver, { connection: redis, prefix });
const runs = new Map<string, number>();

beforeAll(async () => {
  jira = await startSeededSim();
  parsePool = createParsePool({ size: 1 });
  contentPool = createParsePool({ size: 1, timeoutMs: 60_000 });
  web = await buildWebServer({ redis, prefix, logger: silentLogger, auth: { mode: 'none' } });
  await web.listen({ host: '127.0.0.1', port: 0 });
  events = new QueueEvents(jiraDeliver.name, { connection: conns[0]!, prefix });
  await events.waitUntilReady();
  const mailbox = testMailbox({ id: 'support', deliver: { project: 'SUP' } });
  const client = jira.client();
  worker = startDelivererWorker(
    { redis, prefix, mailbox: () => mailbox, store, jira: async () => client, retry: FAST_RETRY, parseContent: (raw) => contentPool.content(raw) },
    // Short locks: an event loop held for 5 s loses them, and the job would run again (the
    // regexes this replaced held it 30-53 s on these mails).
    { connection: conns[1]!, logger: silentLogger, concurrency: 4, lockDuration: 5000, stalledInterval: 2000 },
  );
  worker.on('active', (job) => runs.set(String(job.id), (runs.get(String(job.id)) ?? 0) + 1));
}, 30_000);

afterAll(async () => {
  await worker.close();
  await events.close();
  await deliverQ.close();
  await web.close();
  await parsePool.close();
  await contentPool.close();
  await jira.close();
  await dropPrefix(redis, prefix);
  for (const c of conns) c.disconnect();
  redis.disconnect();
});

describe('HTML bombs through intake and delivery', () => {
  it('are delivered once each, text cut with a note where needed, while /healthz answers throughout', { timeout: 180_000 }, async () => {
    const url = `http://127.0.0.1:${(web.server.address() as { port: number }).port}/healthz`;
    const probes: { ok: boolean; ms: number }[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const t = performance.now();
        // 5 s: far beyond any ordinary answer, well short of what would cost a job its lock.
        const ok = await fetch(url, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false);
        probes.push({ ok, ms: performance.now() - t });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const results: Record<string, DeliverResult> = {};
    let n = 0;
    for (const [name, html] of Object.entries(BOMBS)) {
      n++;
      const raw = rawMail({ from: 'Eve <eve@bomb.example>', subject: name, messageId: `bomb-${n}@bomb.example`, html });
      const record = await prepareMail(raw, store, { pool: parsePool });
      expect(record.classification.kind, name).toBe('human');
      const job = await addJob(deliverQ, jiraDeliver, {
        mailboxId: 'support',
        origin: { kind: 'file', name: `bomb-${n}.eml` },
        record,
        people: [{ email: 'eve@bomb.example', role: 'sender', status: 'known', accountId: jira.site.users.alice.accountId }],
      }, FAST_RETRY);
      results[name] = (await job.waitUntilFinished(events, 120_000)) as DeliverResult;
      expect(runs.get(String(job.id)), `${name}: runs of its job`).toBe(1);
    }
    probing = false;
    await prober;

    const issues = jira.sim.state.allIssues();
    expect(issues).toHaveLength(Object.keys(BOMBS).length);
    for (const r of Object.values(results)) expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    const body = (subject: string) => adfToText(issues.find((i) => i.fields.summary === subject)!.fields.description as AdfDoc);
    expect(body('unterminated tags, 0.58 MB')).toContain('Hello from the bomb');
    expect(body('tag bomb, 262 KB')).toContain('Nested');
    expect(body('anchor bomb, 10 MB')).toMatch(/Mailroom cut this text: only the first 4,194,304 characters of the mail's HTML/);
    expect(body('anchor bomb, 2 MB')).not.toContain('Mailroom cut this text');

    expect(probes.length).toBeGreaterThan(10);
    expect(probes.filter((p) => !p.ok)).toEqual([]);
    console.info(`/healthz: ${probes.length} probes, slowest ${Math.round(Math.max(...probes.map((p) => p.ms)))} ms (not asserted; see npm run bench)`);
  });

  it('a mail the parser refuses past its first 8 MiB fails for good on its first attempt, with the reason', { timeout: 60_000 }, async () => {
    // 8 MiB of an ordinary attachment, then more MIME parts than mailparser allows (1,000):
    // intake reads the head only and sees a fine mail; delivery reads it all.
    const filler = Buffer.alloc(8 * 1024 * 1024, 'a').toString('base64').replace(/.{76}/g, '$&\r\n');
    const parts = Array.from({ length: 1100 }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`).join('');
    const raw = Buffer.from(
      'From: Eve <eve@bomb.example>\r\nSubject: many parts\r\nMessage-ID: <parts@bomb.example>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n' +
        `--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${filler}\r\n${parts}--b--\r\n`,
    );
    const record = await prepareMail(raw, store, { pool: parsePool });
    expect(record.classification.kind).toBe('human');
    const job = await addJob(deliverQ, jiraDeliver, {
      mailboxId: 'support',
      origin: { kind: 'file', name: 'parts.eml' },
      record,
      people: [{ email: 'eve@bomb.example', role: 'sender', status: 'known', accountId: jira.site.users.alice.accountId }],
    }, FAST_RETRY);
    await expect(job.waitUntilFinished(events, 30_000)).rejects.toThrow(/cannot be parsed for delivery \(Max allowed child nodes exceeded\)/);
    const failed = (await deliverQ.getJob(job.id!))!;
    expect(failed.attemptsMade).toBe(1);
    expect(runs.get(String(job.id))).toBe(1);
  });
});
