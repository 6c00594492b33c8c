// Jira Cloud as it answers. Its search lags its writes ("seconds to minutes"), and a create's
// answer can be lost after Jira stored the issue (a 5xx or a dropped connection); and it answers
// 404 alike for an issue that is gone and one the account may not see. The deliverer, its retries and the
// reconcile pass against the simulator over HTTP, real Redis, a filesystem mail store. Minutes
// of lag run in seconds: the simulator's index clock runs SCALE times fast, and the deliverer's
// recovery window (150 s) and first look (10 s) are divided by SCALE.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MESSAGE_PROPERTY, RECOVERY_SETTLE_MS, RECOVERY_WINDOW_MS } from '../../src/deliver/deliverer.js';
import { reconcilePass, RECONCILED_PROPERTY } from '../../src/deliver/reconcile.js';
import { startDelivererWorker } from '../helpers/stage-workers.js';
import { silentLogger } from '../../src/core/log.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { GLOBAL_PERMISSIONS, PROJECT_PERMISSIONS } from '../../src/jira-sim/state.js';
import { FsMailStore } from '../../src/mail/store.js';
import type { SimIssue } from '../../src/jira-sim/state.js';
import { jiraDeliver } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { rawMail, storedRecord } from '../helpers/deliver-testkit.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { FAST_RETRY, testMailbox } from '../helpers/sim-run.js';

const SCALE = 100;
let started = Date.now();
/** The simulator's index clock: SCALE seconds pass for each real second. */
const fastClock = () => started + (Date.now() - started) * SCALE;

let jira: SeededSim;
let redis: Redis;
let prefix: string;
let worker: Worker | undefined;
let deliverQ: Queue;
let events: QueueEvents;
const conns: Redis[] = [];
const store = new FsMailStore(mkdtempSync(join(tmpdir(), 'mr-lag-')));
const mailbox = testMailbox({ id: 'support', addresses: ['support@acme.example'], deliver: { project: 'SUP', issueType: 'Task' } });

beforeAll(async () => {
  jira = await startSeededSim({ clock: fastClock });
  redis = testRedis();
});
afterAll(async () => {
  await jira.close();
  redis.disconnect();
});
beforeEach(async () => {
  jira.reseed();
  started = Date.now();
  prefix = uniquePrefix('lag');
  deliverQ = openQueue(jiraDeliver, { connection: redis, prefix });
  deliverQ.setMaxListeners(200); // one waitUntilFinished per mail
  const ev = testRedis({ forWorker: true });
  const conn = testRedis({ forWorker: true });
  conns.push(ev, conn);
  events = new QueueEvents(jiraDeliver.name, { connection: ev, prefix });
  await events.waitUntilReady();
  const client = jira.client();
  worker = startDelivererWorker(
    {
      redis,
      prefix,
      mailbox: () => mailbox,
      store,
      jira: async () => client,
      retry: FAST_RETRY,
      lockMs: 5_000,
      recoverySettleMs: RECOVERY_SETTLE_MS / SCALE,
      recoveryWindowMs: RECOVERY_WINDOW_MS / SCALE,
    },
    { connection: conn, logger: silentLogger, concurrency: 10 },
  );
});
afterEach(async () => {
  await worker?.close();
  await events.close();
  await deliverQ.close();
  for (const c of conns.splice(0)) c.disconnect();
  await dropPrefix(redis, prefix);
});

/** Delivers n mails (distinct subjects, one sender) and waits for every job to finish. */
async function deliverMany(n: number): Promise<void> {
  const alice = jira.site.users.alice;
  const jobs = [];
  for (let i = 0; i < n; i++) {
    const record = await storedRecord(store, rawMail({ from: 'alice@acme.example', subject: `Lag ${i}`, messageId: `lag-${i}@acme.example`, text: `mail ${i}` }));
    jobs.push(
      await addJob(deliverQ, jiraDeliver, {
        mailboxId: 'support',
        origin: { kind: 'imap', uidvalidity: '7', uid: i + 1, internalDate: new Date().toISOString() },
        record,
        people: [{ email: 'alice@acme.example', role: 'sender', status: 'known', accountId: alice.accountId }],
      }, FAST_RETRY),
    );
  }
  await Promise.all(jobs.map((j) => j.waitUntilFinished(events, 60_000)));
}

/** Issues per mail id (from their mailroom.message property). */
function byMail(issues: SimIssue[]): Map<string, SimIssue[]> {
  const out = new Map<string, SimIssue[]>();
  for (const i of issues) {
    const id = (i.properties.get(MESSAGE_PROPERTY) as { id: string }).id;
    out.set(id, [...(out.get(id) ?? []), i]);
  }
  return out;
}

const isOpen = (i: SimIssue) => !i.fields.resolution;

describe('index lag and lost create answers', () => {
  it('with the search index 40 s behind writes and half the create answers lost after the write, 100 mails become exactly 100 issues', { timeout: 90_000 }, async () => {
    jira.sim.state.indexLagMs = 40_000;
    jira.sim.faults.set({ writeFailRate: 0.5, writeFailOperations: ['createIssue'] });
    await deliverMany(100);
    const issues = jira.sim.state.allIssues();
    const lost = jira.sim.counters.snapshot().requests;
    // Answers were lost (the test would prove nothing otherwise)...
    expect(Object.entries(lost).filter(([k]) => k.startsWith('createIssue') && !/ 201$/.test(k)).reduce((n, [, v]) => n + v, 0)).toBeGreaterThan(20);
    // ...and still: one issue per mail.
    expect(issues).toHaveLength(100);
    expect(byMail(issues).size).toBe(100);
  });

  it('a create lost without a trace, then a second one whose answer is lost: the window starts again from the second, so one issue', { timeout: 60_000 }, async () => {
    jira.sim.state.indexLagMs = 40_000;
    // The first create never reaches Jira (connection dropped before the write): the looks find
    // nothing for the whole window, so the mail is created again; that create is stored and its
    // answer lost. A look timed from the first create would come at once, before the index shows
    // the second, and create a third time.
    jira.sim.faults.drop(1, 'createIssue');
    jira.sim.faults.loseReply(1, 'createIssue');
    await deliverMany(1);
    expect(jira.sim.counters.count('createIssue')).toBe(2);
    expect(jira.sim.state.allIssues()).toHaveLength(1);
  });

  it('with 3 minutes of lag (beyond the 150 s window) some mails become two issues; the reconcile pass leaves no mail with two open issues', { timeout: 90_000 }, async () => {
    jira.sim.state.indexLagMs = 180_000;
    jira.sim.faults.set({ writeFailRate: 0.5, writeFailOperations: ['createIssue'] });
    await deliverMany(30);
    jira.sim.faults.set({ writeFailRate: 0 });
    const before = byMail(jira.sim.state.allIssues());
    const doubled = [...before.values()].filter((l) => l.length > 1);
    expect(doubled.length).toBeGreaterThan(0);
    // The pass sees what the index shows: wait until the last write is 3 (fast) minutes old.
    await new Promise((r) => setTimeout(r, 180_000 / SCALE + 200));
    const report = await reconcilePass({ redis, prefix, client: jira.client(), projects: ['SUP'] });
    expect(report.ran).toBe(true);
    expect(report.findings).toHaveLength(doubled.length);
    for (const [mail, list] of byMail(jira.sim.state.allIssues())) {
      expect(list.filter(isOpen), mail).toHaveLength(1);
      const [kept, ...dups] = [...list].sort((a, b) => Number(a.id) - Number(b.id));
      expect(isOpen(kept!)).toBe(true);
      for (const d of dups) {
        expect(d.fields.resolution).toEqual({ name: 'Duplicate' });
        expect(d.links).toEqual([expect.objectContaining({ type: 'Duplicate', outwardIssueId: kept!.id })]);
        expect(d.comments).toHaveLength(1);
        expect(d.properties.get(RECONCILED_PROPERTY)).toMatchObject({ duplicateOf: kept!.key });
      }
      // Replies to the mail join the kept issue.
      expect((await createLedger(redis, prefix).get(mail))?.issueKey).toBe(kept!.key);
    }
    // A second pass finds nothing left to do.
    const again = await reconcilePass({ redis, prefix, client: jira.client(), projects: ['SUP'] });
    expect(again.findings).toEqual([]);
  });
});

describe('the reconcile pass, one project refused', () => {
  it("a project Jira refuses to search (400 \"The value 'X' does not exist for the field 'project'\": gone, renamed, or no Browse projects) is skipped and named; the others are still reconciled", async () => {
    jira.sim.state.indexLagMs = 0;
    const c = jira.client();
    const properties = [{ key: MESSAGE_PROPERTY, value: { id: 'twice@acme.example', sha256: 'ab', complete: true } }];
    const a = await c.createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'twice' }, { properties });
    const b = await c.createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'twice' }, { properties });
    // A project that exists but that the token may not browse answers as one that does not exist.
    jira.sim.state.addProject({ key: 'HIDDEN', name: 'Hidden', issueTypes: ['Task'] });
    const admin = jira.sim.state.accounts.get(jira.site.admin.accountId)!;
    admin.siteAdmin = false;
    admin.permissions = new Set(GLOBAL_PERMISSIONS);
    admin.projectPermissions = new Map([['SUP', new Set(PROJECT_PERMISSIONS)]]);
    const report = await reconcilePass({ redis, prefix, client: c, projects: ['OLD', 'HIDDEN', 'SUP'] });
    expect(report.skipped).toEqual([
      { project: 'OLD', why: expect.stringContaining("The value 'OLD' does not exist for the field 'project'.") },
      { project: 'HIDDEN', why: expect.stringContaining("The value 'HIDDEN' does not exist for the field 'project'.") },
    ]);
    expect(report.findings).toEqual([expect.objectContaining({ kept: a.key, resolved: [b.key] })]);
  });
});

describe('a 404 on the issue a reply answers', () => {
  /** A reply to a mail the ledger says became `issueKey`; resolves with the job's end. */
  async function reply(issueKey: string): Promise<{ state: string; reason?: string }> {
    await createLedger(redis, prefix).put('first@acme.example', { kind: 'issue', issueKey, mailboxId: 'support', jobId: 'earlier', at: new Date().toISOString() });
    const record = await storedRecord(store, rawMail({ from: 'alice@acme.example', subject: 'Re: first', messageId: 'reply@acme.example', inReplyTo: 'first@acme.example', text: 'more' }));
    const job = await addJob(deliverQ, jiraDeliver, {
      mailboxId: 'support',
      origin: { kind: 'imap', uidvalidity: '7', uid: 99, internalDate: new Date().toISOString() },
      record,
      people: [{ email: 'alice@acme.example', role: 'sender', status: 'known', accountId: jira.site.users.alice.accountId }],
    }, FAST_RETRY);
    try {
      await job.waitUntilFinished(events, 20_000);
      return { state: 'completed' };
    } catch (e) {
      return { state: 'failed', reason: (e as Error).message };
    }
  }

  it('an issue that is gone (404, and the token may browse its project): the reply becomes a new issue', { timeout: 30_000 }, async () => {
    const first = jira.sim.state.createIssue(jira.sim.state.project('SUP')!, { summary: 'first' });
    jira.sim.state.issues.delete(first.id);
    expect(await reply(first.key)).toEqual({ state: 'completed' });
    expect(jira.sim.state.allIssues()).toHaveLength(1);
  });

  it('an issue the workaround user may not see (404 alike): no new issue, the job fails naming Browse projects', { timeout: 30_000 }, async () => {
    const hidden = jira.sim.state.addProject({ key: 'PRIV' });
    const first = jira.sim.state.createIssue(hidden, { summary: 'first' });
    // The workaround user browses SUP only.
    const admin = jira.sim.state.accounts.get(jira.site.admin.accountId)!;
    admin.siteAdmin = false;
    for (const p of PROJECT_PERMISSIONS) admin.permissions.delete(p);
    admin.projectPermissions.set('SUP', new Set(PROJECT_PERMISSIONS));
    const r = await reply(first.key);
    expect(r.state).toBe('failed');
    expect(r.reason).toMatch(/404 for PRIV-1.*Browse projects in PRIV.*Not making a new issue/);
    expect(jira.sim.state.allIssues()).toHaveLength(1);
  });
});
