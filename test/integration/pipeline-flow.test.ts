// The pipeline in this process against the Jira simulator over HTTP, with real Redis: the
// right people get accounts (once), in the right groups or service desk, whatever Jira's
// faults; classified and policy-refused mail makes none.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createLogger, silentLogger, type Logger } from '../../src/core/log.js';
import { jiraDeliver } from '../../src/queues/catalog.js';
import { FAST_RETRY, humanRecord, makeWorkload, startInProcess, testMailbox, type InProcessPipeline } from '../helpers/sim-run.js';
import type { MailInbound } from '../../src/identity/resolver.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const SUPPORT = 'support@acme.example';
const GROUPS = ['jira-software-users', 'support-customers'];

let jira: SeededSim;
let redis: Redis;
let prefix: string;
let run: InProcessPipeline | undefined;
const extra: Redis[] = [];

beforeAll(async () => {
  jira = await startSeededSim();
  redis = testRedis();
});
afterAll(async () => {
  await jira.close();
  redis.disconnect();
});
beforeEach(() => {
  jira.reseed();
  prefix = uniquePrefix('pipeflow');
});
afterEach(async () => {
  await run?.stop();
  run = undefined;
  for (const r of extra.splice(0)) r.disconnect();
  await dropPrefix(redis, prefix);
});

function mailboxes() {
  return [
    testMailbox({ id: 'support', addresses: [SUPPORT], policy: { autoCreate: 'user', groups: GROUPS, floodLimitPerHour: 1000 } }),
    testMailbox({ id: 'helpdesk', addresses: ['help@acme.example'], policy: { autoCreate: 'customer', serviceDeskId: '1', floodLimitPerHour: 1000 } }),
    testMailbox({ id: 'quiet', addresses: ['quiet-box@acme.example'], policy: { autoCreate: 'user', deniedDomains: ['spam.example'], floodLimitPerHour: 3 } }),
  ];
}

const gateLog: { passes: number[]; trips: [number, number][] } = { passes: [], trips: [] };

async function start(over: { resolverConcurrency?: number; provisionerConcurrency?: number; logger?: Logger } = {}) {
  gateLog.passes = [];
  gateLog.trips = [];
  run = await startInProcess({
    redis,
    workerConnection: () => {
      const r = testRedis({ forWorker: true });
      extra.push(r);
      return r;
    },
    prefix,
    mailboxes: mailboxes(),
    jira: { url: jira.sim.url, email: jira.site.admin.email, token: jira.site.admin.token },
    logger: silentLogger,
    retry: FAST_RETRY,
    retryAfterObserver: { onPass: () => gateLog.passes.push(Date.now()), onTrip: (ms) => gateLog.trips.push([Date.now(), ms]) },
    ...over,
  });
  return run;
}

function seedKnown(emails: string[]) {
  for (const email of emails) jira.sim.state.addAccount({ email, displayName: email.split('@')[0], products: ['jira-software'] });
}

function accountsFor(email: string) {
  return jira.sim.state.accountsByEmail(email);
}

function inGroup(name: string, accountId: string): boolean {
  return !!jira.sim.state.group({ name })?.members.has(accountId);
}

async function deliverJobs(r: InProcessPipeline) {
  const jobs = await r.queues.jiraDeliver.getJobs(['waiting', 'prioritized', 'delayed']);
  return jobs.map((j) => jiraDeliver.payload.parse(j.data));
}

describe('pipeline against the simulator with faults', () => {
  it('gives exactly the unknown senders one account each, in every group, despite 5xx, 429 bursts and dropped connections', async () => {
    const w = makeWorkload({ mails: 400, senders: 80, unknown: 25, mailboxId: 'support', to: SUPPORT, seed: 7 });
    seedKnown(w.known);
    const before = jira.sim.state.accounts.size;
    const r = await start();
    jira.sim.faults.set({ errorRate: 0.1 });
    jira.sim.faults.rateLimit({ count: 3, retryAfterSec: 1 });
    jira.sim.faults.drop(4);
    jira.sim.counters.reset();
    await r.enqueue(w.mails.slice(0, 200));
    // More trouble mid-run: a burst on creates and drops on group adds.
    setTimeout(() => {
      jira.sim.faults.rateLimit({ count: 2, retryAfterSec: 1, operation: 'createUser' });
      jira.sim.faults.drop(2, 'addUserToGroup');
    }, 300);
    await r.enqueue(w.mails.slice(200));
    const counts = await r.settled({ timeoutMs: 55_000 });

    expect(counts['mail.completed']).toBe(w.mails.length);
    expect(counts['mail.failed']).toBe(0);
    expect(counts['provision.failed']).toBe(0);
    expect(jira.sim.state.accounts.size - before).toBe(w.unknown.length);
    for (const email of w.unknown) {
      const a = accountsFor(email);
      expect(a, email).toHaveLength(1);
      for (const g of GROUPS) expect(inGroup(g, a[0]!.accountId), `${email} in ${g}`).toBe(true);
    }
    for (const email of w.known) expect(accountsFor(email)).toHaveLength(1);

    const c = jira.sim.counters;
    const uniqueSenders = w.known.length + w.unknown.length;
    // One answered search per sender; a create that got no answer (dropped) is followed by a
    // look-up before any second create, which is the only extra search allowed.
    expect(c.count('findUsers', 200)).toBeLessThanOrEqual(uniqueSenders + c.count('createUser', 0));
    expect(c.count('createUser', 201)).toBe(w.unknown.length);
    expect(c.violations('createExisting')).toBe(0);
    // Retry-After. No request may leave once a 429 is known, until its window has passed.
    expect(gateLog.trips.length).toBeGreaterThanOrEqual(3);
    const inWindow = gateLog.passes.filter((t) => gateLog.trips.some(([at, ms]) => t >= at && t < at + ms));
    expect(inWindow).toEqual([]);
    // The simulator also counts requests that reach it after it decided on a 429 but were sent
    // before that 429 reached the client: with workers and simulator sharing one busy event loop
    // these arrive late. The subprocess test (pipeline-crash) holds it to zero.
    const early = c.violationLog('earlyRetry').map((v) => 1000 - Number(/request (\d+) ms/.exec(v.detail)?.[1] ?? 0));
    if (early.length) console.log(`simulator earlyRetry (requests in flight when a 429 was decided): ${early.length}, arriving ms after it: ${early.join(', ')}`);
    expect(c.violations('createAfterAnonymousSearch')).toBe(0);
    // The faults really happened.
    expect(c.count(undefined, 0) + c.count(undefined, 500) + c.count(undefined, 502) + c.count(undefined, 503)).toBeGreaterThan(10);
    expect(c.count(undefined, 429)).toBeGreaterThanOrEqual(3);

    // Every mail went on to delivery with its sender's account.
    const delivered = await deliverJobs(r);
    expect(delivered).toHaveLength(w.mails.length);
    for (const d of delivered) {
      const sender = d.people?.find((p) => p.role === 'sender');
      const account = accountsFor(d.record.from!.address.toLowerCase())[0]!;
      expect(sender?.accountId).toBe(account.accountId);
      expect(['known', 'provisioned']).toContain(sender?.status);
    }

    // The audit trail tells one new sender's story.
    const trail = await r.pipeline.audit.read(w.unknown[0]!);
    const steps = trail.map((e) => e.step);
    expect(steps).toContain('provision-queued');
    expect(steps).toContain('create-user');
    expect(steps.filter((s) => s === 'add-to-group').length).toBeGreaterThanOrEqual(GROUPS.length);
    expect(steps).toContain('account-ready');
    expect(trail.find((e) => e.step === 'create-user' && e.outcome === 'created')?.tokenAccount).toBe(jira.site.admin.email);
  });

  it('makes JSM customers in the service desk for a customer-mode mailbox, display name from the mail', async () => {
    const r = await start();
    const mails: MailInbound[] = [];
    for (let i = 0; i < 30; i++) {
      const n = i % 6;
      mails.push({
        mailboxId: 'helpdesk',
        origin: { kind: 'file' },
        record: humanRecord({ from: n === 0 ? { address: `cust${n}@client.example` } : { address: `Cust${n}@Client.example`, name: `Customer ${n}` }, messageId: `<c${i}@x>` }),
        receivedAt: new Date().toISOString(),
      });
    }
    await r.enqueue(mails);
    const counts = await r.settled({ timeoutMs: 30_000 });
    expect(counts['mail.completed']).toBe(30);
    const desk = jira.sim.state.serviceDesks.get('1')!;
    for (let n = 0; n < 6; n++) {
      const a = accountsFor(`cust${n}@client.example`);
      expect(a).toHaveLength(1);
      expect(a[0]!.accountType).toBe('customer');
      expect(a[0]!.displayName).toBe(n === 0 ? 'cust0 (client.example)' : `Customer ${n} (client.example)`);
      expect(desk.customers.has(a[0]!.accountId)).toBe(true);
    }
    expect(jira.sim.counters.count('createCustomer')).toBe(6);
    expect(jira.sim.counters.violations('createExisting')).toBe(0);
  });

  it('creates nobody for classified mail, machine addresses, denied domains or a flooding sender', async () => {
    const lines: { level: number; msg: string }[] = [];
    const r = await start({ logger: createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } }) });
    const mk = (i: number, from: string, kind: 'human' | 'bounce' | 'auto-reply' | 'list' = 'human', mailboxId = 'quiet'): MailInbound => {
      const record = humanRecord({ from: { address: from }, messageId: `<q${i}@x>` });
      if (kind !== 'human') record.classification = { kind, reason: `test ${kind}` };
      return { mailboxId, origin: { kind: 'file' }, record, receivedAt: new Date().toISOString() };
    };
    const mails = [
      mk(1, 'someone@bounced.example', 'bounce', 'support'),
      mk(2, 'away@vacation.example', 'auto-reply', 'support'),
      mk(3, 'list-reader@lists.example', 'list', 'support'),
      mk(4, 'mailer-daemon@relay.example'),
      mk(5, 'noreply@shop.example'),
      mk(6, 'buyer@spam.example'),
      // floodLimitPerHour 3 on the quiet mailbox: the 4th and later mails of one sender are held.
      ...[10, 11, 12, 13, 14, 15].map((i) => mk(i, 'flooder@loud.example')),
    ];
    // The flooder's first mails would provision: make sure they are counted in order.
    await r.enqueue(mails.slice(0, 6));
    for (const m of mails.slice(6)) await r.enqueue([m]);
    const counts = await r.settled({ timeoutMs: 30_000 });
    expect(counts['mail.completed']).toBe(mails.length);
    for (const e of ['someone@bounced.example', 'away@vacation.example', 'list-reader@lists.example', 'mailer-daemon@relay.example', 'noreply@shop.example', 'buyer@spam.example']) {
      expect(accountsFor(e), e).toHaveLength(0);
    }
    // Nobody classified or blocked was even looked up.
    expect(jira.sim.counters.count('findUsers')).toBe(2); // buyer@spam.example and flooder@loud.example

    const classified = await r.pipeline.audit.read('<q1@x>');
    expect(classified.map((e) => `${e.step}:${e.outcome}`)).toEqual(['classified:skipped']);
    // Auto-replies, bounces and lists are routine: their audit trail says so, the log only at debug.
    expect(lines.filter((l) => l.msg === 'classified mail: no people resolved').map((l) => l.level)).toEqual([20, 20, 20]);
    const denied = await r.pipeline.audit.read('buyer@spam.example');
    expect(denied.find((e) => e.step === 'decision')?.detail).toMatch(/deniedDomains/);

    // The flooder: counted per mail; over the limit the mail is held, not provisioned. The
    // first mails still provisioned it, so held mails either find the account or are held.
    const flood = await r.pipeline.audit.read('flooder@loud.example');
    expect(flood.filter((e) => e.step === 'flood-limit' && e.outcome === 'held')).toHaveLength(3);
    expect(accountsFor('flooder@loud.example')).toHaveLength(1);
  });

  it('holds a flooding unknown sender without provisioning it', async () => {
    const r = await start({ resolverConcurrency: 1 });
    const mails: MailInbound[] = [1, 2, 3, 4, 5].map((i) => ({
      mailboxId: 'quiet',
      origin: { kind: 'file' },
      record: humanRecord({ from: { address: 'storm@loud.example' }, messageId: `<s${i}@x>` }),
      receivedAt: new Date().toISOString(),
    }));
    // Count the sender past the limit before any mail is resolved: all five are counted first.
    await r.workers[0]!.pause();
    await r.enqueue(mails);
    const { countMail } = await import('../../src/identity/flood.js');
    for (let i = 0; i < 10; i++) await countMail(redis, prefix, 'storm@loud.example', `other-${i}`);
    r.workers[0]!.resume();
    await r.settled({ timeoutMs: 20_000 });
    expect(accountsFor('storm@loud.example')).toHaveLength(0);
    const delivered = await deliverJobs(r);
    expect(delivered).toHaveLength(5);
    for (const d of delivered) expect(d.people?.[0]).toMatchObject({ email: 'storm@loud.example', status: 'held', reason: 'flood' });
  });

  it('asks for the mailbox action of classified IMAP mail with the configured mailbox-actions retry policy', async () => {
    const retry = { ...FAST_RETRY, 'mailbox-actions': { attempts: 3, delay: '1s', maxDelay: '2s' } };
    run = await startInProcess({
      redis,
      workerConnection: () => {
        const r = testRedis({ forWorker: true });
        extra.push(r);
        return r;
      },
      prefix,
      mailboxes: mailboxes(),
      jira: { url: jira.sim.url, email: jira.site.admin.email, token: jira.site.admin.token },
      logger: silentLogger,
      retry,
    });
    const record = humanRecord({ from: { address: 'away@vacation.example' }, messageId: '<ooo1@x>' });
    record.classification = { kind: 'auto-reply', reason: 'test auto-reply' };
    await run.enqueue([{ mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '7', uid: 42 }, record, receivedAt: new Date().toISOString() }]);
    await run.settled({ timeoutMs: 10_000 });
    const action = await run.queues.mailboxActions!.getJob('action|support|7|42');
    expect(action?.data).toMatchObject({ outcome: 'classified' });
    expect(action?.opts.attempts).toBe(3);
  });
});
