// Issue 23, point 5: a sender chooses how many parts a mail has and how many issue keys its
// subject names. The deliverer (in this process, real Redis, the Jira simulator over HTTP)
// uploads at most deliver.maxAttachments and looks up at most deliver.maxIssueKeyLookups; the
// rest are named in the issue, not uploaded or looked up.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adfToText } from '../../src/deliver/adf.js';
import type { DeliverResult } from '../../src/deliver/deliverer.js';
import { startDelivererWorker } from '../helpers/stage-workers.js';
import { silentLogger } from '../../src/core/log.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { FsMailStore } from '../../src/mail/store.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { jiraDeliver } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { rawMail, storedRecord, type RawMailInput } from '../helpers/deliver-testkit.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { FAST_RETRY, testMailbox } from '../helpers/sim-run.js';

let jira: SeededSim;
let redis: Redis;
let prefix: string;
let store: FsMailStore;
let worker: Worker | undefined;
let deliverQ: Queue;
let events: QueueEvents;
const conns: Redis[] = [];
let uid = 1;

const mailboxes = () => [
  testMailbox({ id: 'support', addresses: ['support@acme.example'], deliver: { project: 'SUP' } }),
  testMailbox({ id: 'tight', addresses: ['tight@acme.example'], deliver: { project: 'SUP', maxAttachments: 2, maxIssueKeyLookups: 1 } }),
];

beforeAll(async () => {
  jira = await startSeededSim();
  redis = testRedis();
  store = new FsMailStore(mkdtempSync(join(tmpdir(), 'mr-caps-')));
});
afterAll(async () => {
  await jira.close();
  redis.disconnect();
});
beforeEach(async () => {
  jira.reseed();
  prefix = uniquePrefix('caps');
  deliverQ = openQueue(jiraDeliver, { connection: redis, prefix });
  const ev = testRedis({ forWorker: true });
  conns.push(ev);
  events = new QueueEvents(jiraDeliver.name, { connection: ev, prefix });
  await events.waitUntilReady();
  const byId = new Map(mailboxes().map((m) => [m.id, m]));
  const conn = testRedis({ forWorker: true });
  conns.push(conn);
  const client = jira.client();
  worker = startDelivererWorker(
    { redis, prefix, mailbox: (id) => byId.get(id), store, jira: async () => client, retry: FAST_RETRY, lockMs: 5_000, audit: createAuditTrail({ redis, prefix }), recoverySettleMs: 300 },
    { connection: conn, logger: silentLogger, concurrency: 2 },
  );
});
afterEach(async () => {
  await worker?.close();
  await events.close();
  await deliverQ.close();
  for (const c of conns.splice(0)) c.disconnect();
  await dropPrefix(redis, prefix);
});

async function deliver(m: RawMailInput, mailboxId = 'support'): Promise<DeliverResult> {
  const record = await storedRecord(store, rawMail(m));
  const people = [{ email: 'alice@acme.example', role: 'sender' as const, status: 'known' as const, accountId: jira.site.users.alice.accountId }];
  const job = await addJob(deliverQ, jiraDeliver, { mailboxId, origin: { kind: 'imap', uidvalidity: '7', uid: uid++, internalDate: new Date().toISOString() }, record, people }, FAST_RETRY);
  return (await job.waitUntilFinished(events, 30_000)) as DeliverResult;
}

const files = (n: number) => Array.from({ length: n }, (_, i) => ({ filename: `part-${i + 1}.txt`, contentType: 'text/plain', content: Buffer.from(`part ${i + 1}\n`) }));
const issueText = (key: string) => adfToText(jira.sim.state.allIssues().find((i) => i.key === key)!.fields.description as AdfDoc);

describe('per-mail caps on uploads and issue-key lookups (issue 23)', () => {
  it('uploads the first 20 attachments by default and names the rest in the issue', { timeout: 60_000 }, async () => {
    const r = await deliver({ from: 'Alice <alice@acme.example>', subject: 'many parts', messageId: 'many@acme.example', text: 'see attached', attachments: files(25) });
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    if (r.outcome !== 'delivered') throw new Error('not delivered');
    expect(jira.sim.counters.count('addAttachment')).toBe(20);
    const issue = jira.sim.state.allIssues().find((i) => i.key === r.issueKey)!;
    expect(issue.attachments.map((a) => a.filename)).toEqual(files(20).map((f) => f.filename));
    expect(issueText(r.issueKey)).toMatch(/5 attachments not uploaded: a mail uploads at most 20 \(deliver\.maxAttachments\): part-21\.txt \(\d+ B\), part-22\.txt .*part-25\.txt/);
  });

  it("a text at the body cap with many long-named parts still fits Jira's 32,767 characters: the text is cut further, the notes kept", { timeout: 60_000 }, async () => {
    const text = Array.from({ length: 8000 }, (_, i) => `word${i}`).join(' ');
    const long = Array.from({ length: 70 }, (_, i) => ({ filename: `${'quarterly-finance-report-'.repeat(8)}${i}.txt`, contentType: 'text/plain', content: Buffer.from('x') }));
    const r = await deliver({ from: 'Alice <alice@acme.example>', subject: 'big', messageId: 'big@acme.example', text, attachments: long });
    if (r.outcome !== 'delivered') throw new Error('not delivered');
    const body = issueText(r.issueKey);
    expect(body.length).toBeLessThanOrEqual(32_767);
    expect(body).toContain('word0 word1');
    expect(body).toMatch(/Mailroom cut this text here: with its notes it was longer than the 32,767 characters Jira takes\./);
    expect(body).toMatch(/50 attachments not uploaded: a mail uploads at most 20/);
    expect(jira.sim.counters.count('createIssue', 400)).toBe(0);
  });

  it('takes a lower cap from the route, and looks up only the first issue keys of a subject', { timeout: 60_000 }, async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `SUP-${i + 1000}`).join(' ');
    const r = await deliver({ from: 'Alice <alice@acme.example>', subject: `Re: ${keys}`, messageId: 'keys@acme.example', text: 'x', attachments: files(3) }, 'tight');
    if (r.outcome !== 'delivered') throw new Error('not delivered');
    expect(jira.sim.counters.count('getIssue')).toBe(1);
    expect(jira.sim.counters.count('addAttachment')).toBe(2);
    const text = issueText(r.issueKey);
    expect(text).toMatch(/The subject names 40 issue keys; only the first 1 were looked up \(deliver\.maxIssueKeyLookups\), not: SUP-1001, SUP-1002/);
    expect(text).toMatch(/1 attachments not uploaded: a mail uploads at most 2/);
  });
});
