// The token gate with a real BullMQ worker, a real Redis and the Jira simulator over HTTP:
// a token that expires mid-run pauses every token queue (in every process), no job spends an
// attempt or creates a user from the anonymous-empty search answer, and after a good token is
// stored every held job completes.
import { randomBytes } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError } from '../../src/core/errors.js';
import { createJiraClient, type JiraClient } from '../../src/jira/index.js';
import { createLogger } from '../../src/core/log.js';
import { identityProvision, tokenQueues } from '../../src/queues/catalog.js';
import { addJob } from '../../src/queues/queue.js';
import { startWorker } from '../../src/station/worker.js';
import { TokenKeyError, TokenPausedError, tokenVersionOf } from '../../src/token/errors.js';
import { createTokenGate, readTokenState, resumeGate, tripGate, openTokenQueues } from '../../src/token/gate.js';
import { loadSecretKey } from '../../src/token/key.js';
import { createTokenSource } from '../../src/token/source.js';
import { saveToken } from '../../src/token/store.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { assertNoSecretUnder, secretForms } from './token-scan.js';

const key = loadSecretKey({ base64: randomBytes(32).toString('base64') });
let jira: SeededSim;
const redis = testRedis({ forWorker: true });
const prefixes: string[] = [];

beforeAll(async () => {
  jira = await startSeededSim();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  await redis.quit();
  await jira.close();
});

function newPrefix(): string {
  const p = uniquePrefix('token-gate');
  prefixes.push(p);
  return p;
}

async function store(prefix: string, token: string): Promise<number> {
  const admin = jira.site.admin;
  return saveToken(redis, prefix, key, {
    token,
    email: admin.email,
    accountId: admin.accountId,
    storedAt: new Date(),
    expiresAt: new Date(Date.now() + 86_400_000 * 30),
  });
}

const makeClient = (c: { email: string; token: string }): JiraClient => createJiraClient({ baseUrl: jira.sim.url, email: c.email, token: c.token, timeoutMs: 5000 });

async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

describe('token gate', () => {
  it('pauses every token queue on an expired token mid-run, holds jobs without spending attempts, and resumes on a new token', async () => {
    jira.reseed();
    const prefix = newPrefix();
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    const first = jira.site.admin.token;
    await store(prefix, first);

    // Two "processes": each with its own connections, gate and token source.
    const otherConn = testRedis({ forWorker: true });
    const gateA = createTokenGate({ connection: redis, prefix, logger, pollMs: 60_000 });
    const gateB = createTokenGate({ connection: otherConn, prefix, logger, pollMs: 60_000 });
    await Promise.all([gateA.ready(), gateB.ready()]);
    const source = createTokenSource({ redis, prefix, secretKey: key, makeClient });
    const accountsBefore = jira.sim.state.accounts.size;

    const worker = startWorker(
      identityProvision,
      async (data) => {
        const client = await source.client();
        const found = await client.findUserByEmail(data.email);
        if (found) return found.accountId;
        return (await client.createUser({ emailAddress: data.email, products: ['jira-software'] })).accountId;
      },
      { connection: redis, prefix, logger, concurrency: 3, onAuthError: gateA.onAuthError },
    );
    const queue = new Queue(identityProvision.name, { connection: redis, prefix });
    const add = (email: string) =>
      addJob(queue, identityProvision, { site: 'sim', email, mode: 'user', mailboxId: 'support' });

    const before = await Promise.all(Array.from({ length: 4 }, (_, i) => add(`early-${i}@new.example`)));
    await until('the first jobs to complete', async () => (await queue.getJobCounts('completed')).completed === before.length);
    expect(jira.sim.state.accounts.size).toBe(accountsBefore + 4);

    // The token expires in Jira; every job added from now on meets the anonymous-empty answer.
    jira.sim.state.expireToken(first);
    const trippedAt = Date.now();
    const held = await Promise.all(Array.from({ length: 12 }, (_, i) => add(`held-${i}@new.example`)));
    await until('the gate to trip', async () => (await readTokenState(redis, prefix)).paused);
    const propagationMs = await until('the other process to see the pause', () => gateB.isPaused());
    expect(Date.now() - trippedAt).toBeLessThan(10_000);
    process.stderr.write(`token-gate: other process saw the pause ${propagationMs} ms after this one recorded it\n`);

    const handles = openTokenQueues(redis, prefix);
    for (const q of handles) expect(await q.isPaused(), `${q.name} paused`).toBe(true);
    const state = await readTokenState(redis, prefix);
    expect(state.reason).toMatch(/auth|login|token|credential/i);
    expect(state.queue).toBe(identityProvision.name);
    expect(state.pausedQueues.sort()).toEqual(tokenQueues.map((q) => q.name).sort());

    // Held, not failed, and no attempt spent: give workers time to misbehave if they would.
    await new Promise((r) => setTimeout(r, 1500));
    const counts = await queue.getJobCounts('completed', 'failed', 'delayed');
    expect(counts.failed).toBe(0);
    expect(counts.delayed).toBe(0);
    expect(counts.completed).toBe(before.length);
    for (const j of held) {
      const job = (await queue.getJob(j.id!)) as Job;
      expect(job.attemptsMade, `job ${job.id} attempts`).toBe(0);
    }
    // No user was created from the anonymous-empty search answer.
    expect(jira.sim.state.accounts.size).toBe(accountsBefore + 4);
    expect(jira.sim.counters.violations('createAfterAnonymousSearch')).toBe(0);

    // A good token is stored (as `mailroom token set` does): the queues resume, every held job completes.
    const second = jira.sim.state.addToken({ accountId: jira.site.admin.accountId });
    await store(prefix, second);
    expect(await resumeGate(redis, prefix, handles, 'test: new token stored')).toHaveLength(tokenQueues.length);
    await until('every held job to complete', async () => (await queue.getJobCounts('completed')).completed === before.length + held.length);
    expect((await queue.getJobCounts('failed')).failed).toBe(0);
    expect(jira.sim.state.accounts.size).toBe(accountsBefore + 4 + 12);
    await until('the other process to see the resume', () => !gateB.isPaused());

    await worker.close();
    await queue.close();
    await Promise.all(handles.map((q) => q.close()));
    await gateA.close();
    await gateB.close();
    await otherConn.quit();

    // Neither token is anywhere in Redis (job data included) or in the logs.
    await assertNoSecretUnder(redis, prefix, [first, second], jira.site.admin.email);
    const log = lines.join('');
    expect(log).toMatch(/paused the token queues/);
    for (const f of secretForms([first, second], jira.site.admin.email)) expect(log.includes(f)).toBe(false);
  });

  it('never calls Jira with a token known to be bad: the source refuses while the gate is tripped', async () => {
    jira.reseed();
    const prefix = newPrefix();
    await store(prefix, jira.site.admin.token);
    const source = createTokenSource({ redis, prefix, secretKey: key, makeClient });
    await (await source.client()).myself();
    await tripGate(redis, prefix, [], { reason: 'test', failedVersion: 1 });
    const calls = jira.sim.counters.snapshot();
    await expect(source.client()).rejects.toBeInstanceOf(TokenPausedError);
    expect(jira.sim.counters.snapshot()).toEqual(calls);
  });

  it('does not pause for a failure of a token that has since been rotated: the job retries on the new one', async () => {
    jira.reseed();
    const prefix = newPrefix();
    const logger = createLogger({ level: 'silent' });
    const old = jira.site.admin.token;
    await store(prefix, old);
    const source = createTokenSource({ redis, prefix, secretKey: key, makeClient });
    const oldClient = await source.client();
    const fresh = jira.sim.state.addToken({ accountId: jira.site.admin.accountId });
    await store(prefix, fresh);
    jira.sim.state.revokeToken(old);
    const err = await oldClient.myself().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AuthError);
    expect(tokenVersionOf(err)).toBe(1);
    const gate = createTokenGate({ connection: redis, prefix, logger, queues: [] });
    await gate.onAuthError(err as AuthError, { queueName: 'jira-deliver', id: 'j1' } as Job);
    expect((await readTokenState(redis, prefix)).paused).toBe(false);
    // The next job gets the new token.
    expect((await (await source.client()).myself()).accountId).toBe(jira.site.admin.accountId);
    await gate.close();
  });

  it('a token this process\'s key cannot read is this process\'s fault: a retryable error, never an AuthError that pauses every process (#14)', async () => {
    jira.reseed();
    const prefix = newPrefix();
    await store(prefix, jira.site.admin.token);
    const wrongKey = loadSecretKey({ base64: randomBytes(32).toString('base64') });
    const source = createTokenSource({ redis, prefix, secretKey: wrongKey, makeClient });
    const err = await source.client().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TokenKeyError);
    expect(err).not.toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(new RegExp(`encrypted with another key .*this process has key id ${wrongKey.id}`));
    expect((await readTokenState(redis, prefix)).paused).toBe(false);
  });

  it('a token stored while another process is still pausing the queues leaves none of them paused', async () => {
    const prefix = newPrefix();
    await store(prefix, jira.site.admin.token);
    const queues = openTokenQueues(redis, prefix);
    // The operator's `token set` resumes the gate just as the tripping process pauses the second queue.
    const second = queues[1]!;
    const pause = second.pause.bind(second);
    second.pause = async () => {
      await resumeGate(redis, prefix, queues, 'token stored');
      await pause();
    };
    await tripGate(redis, prefix, queues, { reason: 'test', failedVersion: 1 });
    expect((await readTokenState(redis, prefix)).paused).toBe(false);
    const paused = [];
    for (const q of queues) if (await q.isPaused()) paused.push(q.name);
    expect(paused).toEqual([]);
    await Promise.all(queues.map((q) => q.close()));
  });
});
