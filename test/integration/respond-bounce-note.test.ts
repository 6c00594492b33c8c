// The `respond` job of kind `bounce` on real Redis and the Jira simulator over HTTP: a JSM
// request gets JSM's internal note (servicedeskapi createRequestComment, public: false), a plain
// issue a comment restricted to `respond.noteRole`; a retry after the note was made adds none;
// a deleted issue is skipped with a reason. And the cap on notes per mail of ours
// (src/identity/bounce.ts `takeNote`): a report counted once, however often its job re-runs.
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/log.js';
import { adfToText } from '../../src/deliver/adf.js';
import { bouncedKey, takeNote } from '../../src/identity/bounce.js';
import type { AdfDoc } from '../../src/jira/types.js';
import type { Mailer } from '../../src/notify/mailer.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { respond } from '../../src/queues/catalog.js';
import { openQueue } from '../../src/queues/queue.js';
import { startResponderWorker } from '../helpers/stage-workers.js';
import type { RespondJob } from '../../src/respond/responder.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { testMailbox } from '../helpers/sim-run.js';
import { waitFor } from '../helpers/dovecot.js';

const redis = testRedis();
const prefix = uniquePrefix('respond-bounce-note');
const conns: Redis[] = [];
let jira: SeededSim;
let worker: Worker;
let q: Queue;
const sentMail: unknown[] = [];
// Nothing may be mailed: a mailer that records any attempt.
const mailer = { send: async (m: unknown) => void sentMail.push(m), close: () => undefined } as unknown as Mailer;

const plain = testMailbox({ id: 'support', addresses: ['support@acme.example'], deliver: { project: 'SUP' }, respond: {} });
const desk = testMailbox({ id: 'desk', addresses: ['help@acme.example'], deliver: { serviceDeskId: '1', requestTypeId: '10', project: 'HD' }, respond: {} });

beforeAll(async () => {
  jira = await startSeededSim();
  const c = testRedis({ forWorker: true });
  conns.push(c);
  const client = jira.client();
  worker = startResponderWorker(
    { redis, prefix, mailer, mailbox: (id) => [plain, desk].find((m) => m.id === id), smtpFrom: 'mailroom@acme.example', site: jira.sim.url, installId: prefix, audit: createAuditTrail({ redis, prefix }), jira: async () => client },
    { connection: c, logger: silentLogger, retry: { respond: { attempts: 3, delay: '50ms', maxDelay: '100ms' } } },
  );
  q = openQueue(respond, { connection: redis, prefix });
});

afterAll(async () => {
  await worker?.close();
  await q?.close();
  await jira?.close();
  for (const c of conns) c.disconnect();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

function job(mailboxId: string, issueKey: string, bounceMail: string): Extract<RespondJob, { kind: 'bounce' }> {
  return {
    kind: 'bounce',
    mailboxId,
    issueKey,
    bounceMail,
    ourKey: 'b'.repeat(64),
    sent: { kind: 'comment', commentId: '10001', to: 'nora@customer.example', at: '2026-12-06T09:00:00.000Z' },
    recipients: [{ recipient: 'nora@customer.example', action: 'failed', status: '5.1.1', diagnostic: 'smtp; 550 [see|http://evil.example] no such user' }],
    reporter: 'mailer-daemon@mx.customer.example',
  };
}

async function run(data: Extract<RespondJob, { kind: 'bounce' }>): Promise<unknown> {
  const id = respond.jobId(data);
  await q.add('bounce', data, { jobId: id });
  return waitFor('the job done', async () => {
    const state = await q.getJobState(id);
    if (state === 'failed') throw new Error(`job failed: ${(await q.getJob(id))?.failedReason}`);
    // Read after it completed: a job fetched while active carries no return value yet.
    return state === 'completed' ? (await q.getJob(id))!.returnvalue : undefined;
  });
}

describe('the bounce note', () => {
  it('on a JSM request: JSM\'s internal note (public: false), wiki markup defused, nothing mailed', async () => {
    const req = await jira.client().createRequest({ serviceDeskId: '1', requestTypeId: '10', summary: 'VPN', description: 'down', raiseOnBehalfOf: jira.site.users.customer.accountId });
    expect(await run(job('desk', req.issueKey, 'dsn-jsm@x'))).toMatchObject({ kind: 'bounce', sent: 1 });
    const issue = jira.sim.state.issue(req.issueKey)!;
    expect(issue.comments).toHaveLength(1);
    const c = await jira.client().getComment(req.issueKey, issue.comments[0]!.id);
    expect(c.jsdPublic).toBe(false);
    const text = adfToText(c.body as AdfDoc);
    expect(text).toContain('Comment 10001 mailed from');
    expect(text).toContain('550 (see/http://evil.example) no such user');
    expect(sentMail).toEqual([]);
    // Both requests (JSM comment, and the platform one below) as the OpenAPI specs describe them.
    expect(jira.sim.counters.violations('schema')).toBe(0);
  });

  it('on a plain issue: restricted to the note role (default Administrators); a retry of a done note adds none', async () => {
    const issue = await jira.client().createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'Printer' });
    const data = job('support', issue.key, 'dsn-plain@x');
    expect(await run(data)).toMatchObject({ sent: 1 });
    const sim = jira.sim.state.issue(issue.key)!;
    expect(sim.comments.map((c) => c.visibility)).toEqual([{ type: 'role', value: 'Administrators' }]);
    // The job again (its BullMQ record gone, as after removeOnComplete): the outbox says it is done.
    await (await q.getJob(respond.jobId(data)))!.remove();
    expect(await run(data)).toMatchObject({ sent: 0, already: 1 });
    expect(sim.comments).toHaveLength(1);
    expect(sentMail).toEqual([]);
    expect(jira.sim.counters.violations('schema')).toBe(0);
  });

  it('on a JSM mailbox\'s issue that is not a request (JSM answers 404): the role-restricted comment instead', async () => {
    const issue = await jira.client().createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'Moved' });
    expect(await run(job('desk', issue.key, 'dsn-notreq@x'))).toMatchObject({ sent: 1 });
    expect(jira.sim.state.issue(issue.key)!.comments.map((c) => c.visibility)).toEqual([{ type: 'role', value: 'Administrators' }]);
    const trail = await createAuditTrail({ redis, prefix }).read('dsn-notreq@x');
    expect(trail[0]?.detail).toMatch(/not a JSM request: visible to role Administrators/);
  });

  it('on an issue that is gone: skipped with the reason, in the audit trail', async () => {
    expect(await run(job('support', 'SUP-9999', 'dsn-gone@x'))).toMatchObject({ skipped: 1, why: expect.stringMatching(/SUP-9999 no longer exists/) });
    const trail = await createAuditTrail({ redis, prefix }).read('dsn-gone@x');
    expect(trail.map((e) => [e.step, e.outcome])).toEqual([['bounce-noted', 'skipped']]);
  });
});

describe('takeNote: at most N notes per mail of ours', () => {
  it('counts each report once (a re-run passes again), refuses the N+1th, per mail', async () => {
    const ours = '<mailroom.r.1@acme.example>';
    expect(await takeNote(redis, prefix, ours, 'dsn-a', 2)).toBe(true);
    expect(await takeNote(redis, prefix, ours, 'dsn-a', 2)).toBe(true);
    expect(await takeNote(redis, prefix, ours, 'dsn-b', 2)).toBe(true);
    expect(await takeNote(redis, prefix, ours, 'dsn-c', 2)).toBe(false);
    expect(await takeNote(redis, prefix, 'mailroom.r.1@acme.example', 'dsn-b', 2)).toBe(true); // the same mail, brackets or not
    expect(await takeNote(redis, prefix, '<mailroom.r.2@acme.example>', 'dsn-c', 2)).toBe(true);
    // The count expires (30 days): it must not grow for ever.
    // As long as the ledger knows our mail (400 days): a cap that lapsed sooner would let one leaked id add notes again.
    expect(await redis.ttl(bouncedKey(prefix, ours))).toBeGreaterThan(399 * 24 * 3600);
  });
});
