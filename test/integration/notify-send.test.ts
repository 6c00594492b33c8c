// The notifier end to end in this process: the Jira simulator over HTTP (reached through the
// stored workaround token), a real BullMQ worker on real Redis, and a real receiving SMTP
// server. A 120-member group (3 pages, 2 inactive, 1 hidden email) yields exactly 117 mails,
// each with the loop headers; retries after partial failure never mail anyone twice; a
// refused recipient does not hold up the others; the mail coming back is our own.
import { randomBytes } from 'node:crypto';
import type { Job, Queue, Worker } from 'bullmq';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { mailboxSchema } from '../../src/config/schema.js';
import { createJiraClient, type JiraClient } from '../../src/jira/index.js';
import { silentLogger } from '../../src/core/log.js';
import { parseMail } from '../../src/mail/parse.js';
import { enqueueNotification, type NotifyJob } from '../../src/notify/enqueue.js';
import { ledgerKey } from '../../src/notify/ledger.js';
import { createMailer, type Mailer } from '../../src/notify/mailer.js';
import type { NotifyResult } from '../../src/notify/notifier.js';
import { startNotifierWorker, startResolverWorker } from '../helpers/stage-workers.js';
import { createIdentityContext } from '../../src/identity/context.js';
import { mailInbound, notify } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { loadSecretKey } from '../../src/token/key.js';
import { createTokenSource } from '../../src/token/source.js';
import { createTokenGate, openTokenQueues, readTokenState, resumeGate } from '../../src/token/gate.js';
import { saveToken } from '../../src/token/store.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { openPipelineQueues } from '../helpers/sim-run.js';
import { headersOf, startSmtpSink, type SmtpSink } from './notify-smtp-sink.js';

const FROM = 'mailroom@acme.example';
const SUPPORT = 'support@acme.example';
const GROUP = 'big-team';
/** Retries in tenths of a second instead of the production 10 s, so a test sees several attempts. */
const FAST = { notify: { attempts: 6, delay: '200ms', maxDelay: '400ms' } };
const key = loadSecretKey({ base64: randomBytes(32).toString('base64') });

let jira: SeededSim;
let redis: Redis;
let prefix: string;
let sink: SmtpSink;
let expected: string[];
let hiddenEmail: string;
const cleanup: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  jira = await startSeededSim();
  redis = testRedis();
});
afterAll(async () => {
  await jira.close();
  redis.disconnect();
});
beforeEach(async () => {
  jira.reseed();
  prefix = uniquePrefix('notify');
  sink = await startSmtpSink();
  ({ expected, hidden: hiddenEmail } = seedBigGroup());
  // The issue the notifications are about (an ordinary one: no security level).
  expect((await jira.client().createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'Printer on fire' })).key).toBe('SUP-1');
  const admin = jira.site.admin;
  await saveToken(redis, prefix, key, { token: admin.token, email: admin.email, accountId: admin.accountId, storedAt: new Date(), expiresAt: new Date(Date.now() + 30 * 86_400_000) });
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  await sink.close();
  await dropPrefix(redis, prefix);
});

/** 120 members: #7 and #63 deactivated, #90 with a hidden email. Returns the 117 addresses that must be mailed. */
function seedBigGroup(): { expected: string[]; hidden: string } {
  const { state } = jira.sim;
  const group = state.addGroup({ name: GROUP });
  const expected: string[] = [];
  let hidden = '';
  for (let i = 0; i < 120; i++) {
    const email = `member${i}@team.example`;
    const a = state.addAccount({ email, displayName: `Member ${i}`, active: i !== 7 && i !== 63, emailHidden: i === 90, products: ['jira-software'] });
    group.members.add(a.accountId);
    if (i === 90) hidden = email;
    else if (a.active) expected.push(email);
  }
  return { expected, hidden };
}

interface Running {
  worker: Worker;
  mailer: Mailer;
  queue: Queue;
}

function startNotifier(o: { bccBatchSize?: number; port?: number; onAuthError?: Parameters<typeof startNotifierWorker>[1]['onAuthError'] } = {}): Running {
  const source = createTokenSource<JiraClient>({
    redis,
    prefix,
    secretKey: key,
    makeClient: (c) => createJiraClient({ baseUrl: jira.sim.url, email: c.email, token: c.token, timeoutMs: 5000 }),
  });
  const bccBatchSize = o.bccBatchSize ?? 1;
  const mailer = createMailer({ host: '127.0.0.1', port: o.port ?? sink.port, secure: false, from: FROM, bccBatchSize }, undefined);
  const connection = testRedis({ forWorker: true });
  const worker = startNotifierWorker(
    {
      redis,
      prefix,
      jira: () => source.client(),
      mailer,
      from: FROM,
      bccBatchSize,
      site: 'https://acme.atlassian.net',
      installId: prefix,
    },
    { connection, logger: silentLogger, retry: FAST, onAuthError: o.onAuthError },
  );
  const queue = openQueue(notify, { connection: redis, prefix });
  cleanup.push(async () => {
    await worker.close();
    mailer.close();
    await queue.close();
    connection.disconnect();
  });
  return { worker, mailer, queue };
}

function job(o: Partial<NotifyJob> = {}): NotifyJob {
  return { issueKey: 'SUP-1', event: 'issue_created', groups: [GROUP], users: [], eventId: `test-${randomBytes(4).toString('hex')}`, summary: 'Printer on fire', ...o };
}

async function settle(queue: Queue, id: string, timeoutMs = 30_000): Promise<Job> {
  const start = Date.now();
  for (;;) {
    const j = await queue.getJob(id);
    const state = j ? await j.getState() : 'unknown';
    // Read again once finished: the handle fetched before may predate its result.
    if (state === 'completed' || state === 'failed') return (await queue.getJob(id))!;
    if (Date.now() - start > timeoutMs) throw new Error(`job ${id} still ${state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const recipientsOf = (s: SmtpSink) => s.received.flatMap((m) => m.to);
const groupPages = () => jira.sim.counters.count('getUsersFromGroup', 200);

describe('notifier', () => {
  it('mails exactly the 117 reachable members of a 120-member group, one message each, every one with the loop headers', async () => {
    const { queue } = startNotifier();
    const r = await enqueueNotification(queue, job(), FAST);
    const done = await settle(queue, r.jobId);
    expect(await done.getState()).toBe('completed');

    expect(sink.received).toHaveLength(117);
    expect([...recipientsOf(sink)].sort()).toEqual([...expected].sort());
    expect(recipientsOf(sink)).not.toContain(hiddenEmail);
    expect(recipientsOf(sink)).not.toContain('member7@team.example');
    expect(groupPages()).toBe(3);
    for (const m of sink.received) {
      expect(m.to).toHaveLength(1);
      expect(m.from).toBe(FROM);
      const h = headersOf(m.raw);
      expect(h.get('auto-submitted')).toEqual(['auto-generated']);
      expect(h.get('precedence')).toEqual(['bulk']);
      expect(h.get('x-auto-response-suppress')).toEqual(['All']);
      expect(h.get('x-mailroom-loop')?.[0]).toBe(`mailroom; install=${prefix}; domain=${FROM.split('@')[1]}; issue=SUP-1; event=issue_created`);
      expect(h.get('to')).toEqual([m.to[0]]);
      expect(h.get('subject')).toEqual(['[SUP-1] Issue created: Printer on fire']);
    }
    const result = done.returnvalue as NotifyResult;
    expect(result).toMatchObject({ recipients: 117, sent: 117, failed: 0, alreadyDone: 0, hiddenSkipped: 1, perGroup: { [GROUP]: 117 } });
  });

  it('sends BCC batches when configured: 3 messages of at most 50, nobody twice, no Bcc header in the mail', async () => {
    const { queue } = startNotifier({ bccBatchSize: 50 });
    const r = await enqueueNotification(queue, job({ users: ['member3@team.example', 'Outside@Partner.example'] }), FAST);
    expect(await (await settle(queue, r.jobId)).getState()).toBe('completed');
    expect(sink.received.map((m) => m.to.length).sort((a, b) => b - a)).toEqual([50, 50, 18]);
    const all = recipientsOf(sink);
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual([...expected, 'outside@partner.example'].sort());
    for (const m of sink.received) {
      const h = headersOf(m.raw);
      expect(h.has('bcc')).toBe(false);
      expect(h.get('to')).toEqual([FROM]);
      expect(h.get('x-mailroom-loop')).toHaveLength(1);
    }
  });

  it('after the SMTP server fails mid-send (421 for 20 messages), the retry mails only those 20: nobody twice', async () => {
    sink.failWindow = { after: 40, count: 20 };
    const { queue } = startNotifier();
    const r = await enqueueNotification(queue, job(), FAST);
    const done = await settle(queue, r.jobId);
    expect(await done.getState()).toBe('completed');
    expect(done.attemptsMade).toBeGreaterThanOrEqual(1);
    expect(sink.dataCount).toBe(137); // 117 delivered + the 20 refused tries
    const all = recipientsOf(sink);
    expect(all).toHaveLength(117);
    expect(new Set(all).size).toBe(117);
    expect(done.returnvalue as NotifyResult).toMatchObject({ sent: 20, alreadyDone: 97 });
    // The group was read from Jira once: the retry took it from the cache.
    expect(groupPages()).toBe(3);
  });

  it('rides out an SMTP server that is down, with backoff, then delivers', async () => {
    const port = sink.port;
    await sink.close();
    const { queue } = startNotifier({ port });
    const r = await enqueueNotification(queue, job({ groups: [], users: ['a@x.example', 'b@x.example', 'c@x.example'] }), FAST);
    await until('a failed attempt', async () => ((await queue.getJob(r.jobId))?.attemptsMade ?? 0) >= 1);
    sink = await startSmtpSink({ port });
    const done = await settle(queue, r.jobId);
    expect(await done.getState()).toBe('completed');
    expect([...recipientsOf(sink)].sort()).toEqual(['a@x.example', 'b@x.example', 'c@x.example']);
  });

  it('a recipient refused at RCPT (550) is recorded as failed, does not stop the others, and is never tried again', async () => {
    sink.refuse.set('member5@team.example', 550);
    const { queue } = startNotifier();
    const data = job();
    const r = await enqueueNotification(queue, data, FAST);
    const done = await settle(queue, r.jobId);
    expect(await done.getState()).toBe('completed');
    expect(done.attemptsStarted).toBe(1); // no retry was needed
    expect(sink.received).toHaveLength(116);
    expect(recipientsOf(sink)).not.toContain('member5@team.example');
    expect(done.returnvalue as NotifyResult).toMatchObject({ sent: 116, failed: 1, failures: [{ email: 'member5@team.example' }] });
    const outcome = JSON.parse((await redis.hget(ledgerKey(prefix, data.eventId), 'member5@team.example'))!) as { state: string; why: string };
    expect(outcome.state).toBe('failed');
    expect(outcome.why).toMatch(/^550/);

    // The same event again (Jira replays a day later, after the job was removed): nobody is mailed twice.
    await done.remove();
    const again = await enqueueNotification(queue, data, FAST);
    expect(again.created).toBe(true);
    const second = await settle(queue, again.jobId);
    expect(second.returnvalue as NotifyResult).toMatchObject({ sent: 0, failed: 0, alreadyDone: 117 });
    expect(sink.received).toHaveLength(116);
  });

  it('an address with an international domain is kept as the SMTP server sees it (punycode): its refusal is recorded, not taken for a delivery', async () => {
    // smtp-server reads the RCPT domain back to Unicode; nodemailer sends and reports it in punycode.
    sink.refuse.set('juergen@müller.example', 550);
    // In a BCC batch the refusal was read as a delivery; alone in its message, as a deferral retried until the attempts ran out.
    const { queue } = startNotifier({ bccBatchSize: 50 });
    const data = job({ groups: [], users: ['Juergen@Müller.example', 'a@x.example'] });
    const r = await enqueueNotification(queue, data, FAST);
    const done = await settle(queue, r.jobId);
    expect(done.returnvalue as NotifyResult).toMatchObject({ recipients: 2, sent: 1, failed: 1, failures: [{ email: 'juergen@xn--mller-kva.example' }], unusable: [] });
    const outcome = JSON.parse((await redis.hget(ledgerKey(prefix, data.eventId), 'juergen@xn--mller-kva.example'))!) as { state: string };
    expect(outcome.state).toBe('failed');
    expect(recipientsOf(sink)).toEqual(['a@x.example']);
  });

  it('a recipient deferred (451) on every attempt: the others are mailed once, and it is tried only until the attempts run out', async () => {
    sink.refuse.set('member11@team.example', 451);
    const { queue } = startNotifier();
    const r = await enqueueNotification(queue, job(), FAST);
    const done = await settle(queue, r.jobId);
    expect(await done.getState()).toBe('failed');
    expect(done.attemptsMade).toBe(FAST.notify.attempts);
    expect(done.failedReason).toMatch(/^1 of 1 recipients not delivered yet \(451/);
    const all = recipientsOf(sink);
    expect(all).toHaveLength(116);
    expect(new Set(all).size).toBe(116);
    const outcome = JSON.parse((await redis.hget(ledgerKey(prefix, done.data.eventId), 'member11@team.example'))!) as { state: string; tries: number };
    expect(outcome).toMatchObject({ state: 'deferred', tries: FAST.notify.attempts });
  });

  it('our sender refused at MAIL FROM (553) fails no recipient for good: the job retries, names what to fix, and mails everyone once the server takes the sender', async () => {
    sink.refuseSender = 553;
    const { queue } = startNotifier();
    const data = job({ groups: [], users: ['a@x.example', 'b@x.example'] });
    // Attempts enough that the job is still retrying when the server is fixed, however slow this machine.
    const r = await enqueueNotification(queue, data, { notify: { ...FAST.notify, attempts: 100 } });
    await until('a retried attempt', async () => ((await queue.getJob(r.jobId))?.attemptsMade ?? 0) >= 2);
    expect(sink.received).toHaveLength(0);
    for (const email of ['a@x.example', 'b@x.example']) {
      const o = JSON.parse((await redis.hget(ledgerKey(prefix, data.eventId), email))!) as { state: string; why: string };
      expect(o.state).toBe('deferred');
      expect(o.why).toMatch(/^the SMTP server refused the sender \(MAIL FROM\): 553 5\.7\.1 Sender address rejected.*; check smtp\.from, respond\.from and smtp\.user$/);
    }
    // The relay now lets the login send as smtp.from.
    sink.refuseSender = undefined;
    const done = await settle(queue, r.jobId);
    expect(await done.getState()).toBe('completed');
    expect([...recipientsOf(sink)].sort()).toEqual(['a@x.example', 'b@x.example']);
  });

  it('mails no summary of an issue with a security level, or one Jira does not show the token: the group may hold people the level keeps out', async () => {
    const { queue } = startNotifier();
    const secret = await jira.client().createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'Salary review: Jane Doe', security: { id: '10100', name: 'HR only' } } as never);
    for (const [issueKey, why] of [[secret.key, 'the issue has a security level'], ['SUP-999', 'Jira does not show the issue to Mailroom (gone, or restricted)']] as const) {
      const r = await enqueueNotification(queue, job({ issueKey, groups: [], users: ['a@x.example'], summary: 'Salary review: Jane Doe' }), FAST);
      expect(await (await settle(queue, r.jobId)).getState()).toBe('completed');
      const mail = sink.received.at(-1)!;
      expect(headersOf(mail.raw).get('subject')).toEqual([`[${issueKey}] Issue created`]);
      const text = (await simpleParser(mail.raw)).text ?? '';
      expect(text).not.toContain('Salary');
      expect(text).toContain(`Its summary is not in this mail: ${why}.`);
    }
  });

  it('a relay that will not pass on our mail (554 Relay access denied at RCPT) fails no recipient for good: the job retries, says what to check, and mails everyone once the relay takes it', async () => {
    sink.refuse.set('a@x.example', 554).set('b@x.example', 554);
    sink.refuseText = '5.7.1 Relay access denied';
    const { queue } = startNotifier();
    const data = job({ groups: [], users: ['a@x.example', 'b@x.example'] });
    const r = await enqueueNotification(queue, data, { notify: { ...FAST.notify, attempts: 100 } });
    await until('a retried attempt', async () => ((await queue.getJob(r.jobId))?.attemptsMade ?? 0) >= 2);
    expect(sink.received).toHaveLength(0);
    for (const email of ['a@x.example', 'b@x.example']) {
      const o = JSON.parse((await redis.hget(ledgerKey(prefix, data.eventId), email))!) as { state: string; why: string };
      expect(o).toMatchObject({ state: 'deferred', why: expect.stringMatching(/^the SMTP server will not relay Mailroom's mail: 554 5\.7\.1 Relay access denied; check smtp\.host, smtp\.user/) });
    }
    // The relay now takes Mailroom's mail (smtp.user set, or Mailroom's address allowed).
    sink.refuse.clear();
    const done = await settle(queue, r.jobId);
    expect(await done.getState()).toBe('completed');
    expect([...recipientsOf(sink)].sort()).toEqual(['a@x.example', 'b@x.example']);
  });

  it('a refused workaround token pauses the queue without spending attempts; a new token lets the job finish', async () => {
    const tokenQueues = openTokenQueues(redis, prefix);
    const gate = createTokenGate({ connection: redis, prefix, logger: silentLogger, queues: tokenQueues });
    cleanup.push(async () => {
      await gate.close();
      await Promise.all(tokenQueues.map((q) => q.close()));
    });
    jira.sim.state.revokeToken(jira.site.admin.token);
    const { queue } = startNotifier({ onAuthError: (err, j) => gate.onAuthError(err, j) });
    const r = await enqueueNotification(queue, job(), FAST);
    await until('the gate to pause the token queues', async () => (await readTokenState(redis, prefix)).paused && (await queue.isPaused()));
    await until('the job back in wait', async () => ['waiting', 'paused', 'prioritized'].includes(await (await queue.getJob(r.jobId))!.getState()));
    expect((await queue.getJob(r.jobId))!.attemptsMade).toBe(0);
    expect(sink.dataCount).toBe(0);

    const admin = jira.site.admin;
    const fresh = jira.sim.state.addToken({ accountId: admin.accountId });
    await saveToken(redis, prefix, key, { token: fresh, email: admin.email, accountId: admin.accountId, storedAt: new Date(), expiresAt: new Date(Date.now() + 30 * 86_400_000) });
    await resumeGate(redis, prefix, tokenQueues, 'a new token was stored');
    const done = await settle(queue, r.jobId);
    expect(await done.getState()).toBe('completed');
    expect(sink.received).toHaveLength(117);
  });

  it('an unknown group fails the job for good, naming the group, and mails nobody', async () => {
    const { queue } = startNotifier();
    const r = await enqueueNotification(queue, job({ groups: [GROUP, 'no-such-team'], users: ['x@y.example'] }), FAST);
    const done = await settle(queue, r.jobId);
    expect(await done.getState()).toBe('failed');
    expect(done.failedReason).toContain('"no-such-team"');
    expect(done.attemptsMade).toBe(1);
    expect(sink.dataCount).toBe(0);
  });

  it('a notification that comes back to the watched mailbox is our own and creates nothing', async () => {
    const { queue } = startNotifier();
    const r = await enqueueNotification(queue, job({ groups: [], users: [SUPPORT] }), FAST);
    expect(await (await settle(queue, r.jobId)).getState()).toBe('completed');
    expect(sink.received).toHaveLength(1);
    const raw = sink.received[0]!.raw;
    await expectNothingMadeOf(raw, 'bounced-back.eml');
  });

  it('an answer to a notification (a responder that ignores Auto-Submitted, or a person) creates nothing: no issue that would be notified again, in a loop', async () => {
    const { queue } = startNotifier();
    const r = await enqueueNotification(queue, job({ groups: [], users: ['robot@partner.example'] }), FAST);
    expect(await (await settle(queue, r.jobId)).getState()).toBe('completed');
    const ours = headersOf(sink.received[0]!.raw).get('message-id')![0]!;
    // The partner's ticket system answers whatever it gets, without Auto-Submitted or Precedence.
    const reply = Buffer.from(
      [
        'From: Partner Desk <robot@partner.example>',
        `To: ${FROM}`,
        'Subject: Re: [SUP-1] Issue created: Printer on fire [Ticket#88123]',
        'Message-ID: <t88123@partner.example>',
        `In-Reply-To: ${ours}`,
        `References: ${ours}`,
        'Date: Mon, 07 Dec 2026 10:00:00 +0000',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Thank you, your message has been logged as ticket 88123.',
        '',
      ].join('\r\n'),
    );
    await expectNothingMadeOf(reply, 'robot-answer.eml');
  });
});

/** The mail, parsed and given to the resolver under a policy that would create a user for any sender: it is our own, and nothing is made of it. */
async function expectNothingMadeOf(raw: Buffer, name: string): Promise<void> {
  const record = await parseMail(raw, { sha256: 'a'.repeat(64), size: raw.length });
  expect(record.classification.kind).toBe('own');

  // The resolver, with a policy that would create a user for any unknown sender.
  const mailbox = mailboxSchema.parse({ id: 'support', addresses: [SUPPORT], policy: { autoCreate: 'user' } });
  const pipeline = createIdentityContext({
    redis,
    prefix,
    site: jira.sim.url,
    mailboxes: [mailbox],
    cache: { positiveTtlMs: 60_000, negativeTtlMs: 60_000 },
    jira: async () => ({ client: jira.client(), account: jira.site.admin.email }),
    logger: silentLogger,
  });
  const queues = openPipelineQueues(redis, prefix);
  const connection = testRedis({ forWorker: true });
  const resolver = startResolverWorker(pipeline, { connection, logger: silentLogger });
  cleanup.push(async () => {
    await resolver.close();
    await pipeline.jobs.close();
    await Promise.all(queues.all.map((q) => q.close()));
    connection.disconnect();
  });
  const accountsBefore = jira.sim.state.accounts.size;
  const issuesBefore = jira.sim.state.allIssues().length;
  const requestsBefore = jira.sim.counters.count();
  const added = await addJob(queues.mailInbound, mailInbound, { mailboxId: 'support', origin: { kind: 'file', name }, record, receivedAt: new Date().toISOString() });
  const settled = await settle(queues.mailInbound, added.id!);
  expect(settled.returnvalue).toMatchObject({ outcome: 'classified', kind: 'own' });
  expect(jira.sim.state.accounts.size).toBe(accountsBefore);
  expect(jira.sim.state.allIssues()).toHaveLength(issuesBefore);
  expect(jira.sim.counters.count()).toBe(requestsBefore);
  expect(await queues.identityProvision.count()).toBe(0);
  expect(await queues.jiraDeliver.count()).toBe(0);
}

