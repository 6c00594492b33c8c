// startWorker maps Mailroom's error kinds onto BullMQ; these tests run real jobs on a real Redis.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { z } from 'zod';
import { defineQueue } from '../../src/queues/define.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { outcomeOf, startWorker as startStationWorker } from '../../src/station/worker.js';
import { AuthError, PermanentError, RateLimitedError, RetryableError } from '../../src/core/errors.js';
import { createLogger, silentLogger } from '../../src/core/log.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { TokenUnavailableError } from '../../src/token/errors.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('qw');
const redis = testRedis({ forWorker: true });

const def = defineQueue({
  name: 'test-q',
  payload: z.object({ id: z.string(), behaviour: z.enum(['ok', 'permanent', 'flaky', 'ratelimit', 'auth']) }),
  jobId: (d) => `t|${d.id}`,
  retry: { attempts: 3, delay: '100ms', maxDelay: '200ms' },
  needsToken: true,
});

let queue: Queue;
let events: QueueEvents;
beforeAll(async () => {
  queue = openQueue(def, { connection: redis, prefix });
  events = new QueueEvents(def.name, { connection: testRedis({ forWorker: true }), prefix });
  await events.waitUntilReady();
});
afterAll(async () => {
  await queue.close();
  await events.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

// Every worker a test starts is closed after it, even when an assertion fails first: a worker
// left running takes the next test's jobs (a loaded run failed one test, then the next on the
// leftover worker that completed its job).
const running: { close(): Promise<void> }[] = [];
const startWorker: typeof startStationWorker = (def, processor, deps) => {
  const w = startStationWorker(def, processor, deps);
  running.push(w);
  return w;
};
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.close()));
});

function finished(id: string): Promise<'completed' | 'failed'> {
  return new Promise((resolve) => {
    const onDone = ({ jobId }: { jobId: string }) => {
      if (jobId !== id) return;
      events.off('completed', onDone);
      events.off('failed', onFailed);
      resolve('completed');
    };
    const onFailed = ({ jobId, prev }: { jobId: string; prev?: string }) => {
      if (jobId !== id || prev === 'waiting') return;
      void queue.getJob(id).then((j) => {
        if (j && j.attemptsMade >= (j.opts.attempts ?? 1) || j?.failedReason?.includes('permanent')) {
          events.off('completed', onDone);
          events.off('failed', onFailed);
          resolve('failed');
        }
      });
    };
    events.on('completed', onDone);
    events.on('failed', onFailed);
  });
}

describe('outcomeOf', () => {
  it.each([
    [new PermanentError('bad'), 'fail-permanently'],
    [new RateLimitedError('slow down', 1500), 'rate-limit'],
    [new AuthError('token refused'), 'pause-for-auth'],
    [new RetryableError('503'), 'retry'],
    [new Error('bug'), 'retry'],
  ])('%s -> %s', (err, action) => {
    expect(outcomeOf(err).action).toBe(action);
  });
});

describe('startWorker', () => {
  it('writes a job that failed for good into the audit trail with its reason: permanent, and the last attempt', async () => {
    const auditedDef = defineQueue({ ...def, name: 'test-audited', audit: { step: 'test-failed', subject: (d: { id: string }) => ({ mail: `${d.id}@example.test`, mailboxId: 'support' }) } });
    const q = openQueue(auditedDef, { connection: redis, prefix });
    const worker = startWorker(auditedDef, async (d) => {
      if (d.behaviour === 'permanent') throw new PermanentError('Jira refused the issue type');
      throw new RetryableError('Jira answered 503');
    }, { connection: redis, prefix, logger: silentLogger });
    const trail = createAuditTrail({ redis, prefix });
    await addJob(q, auditedDef, { id: 'ap1', behaviour: 'permanent' });
    await addJob(q, auditedDef, { id: 'af1', behaviour: 'flaky' });
    const last = async (id: string) => {
      for (;;) {
        const events = await trail.read(`${id}@example.test`);
        if (events.length) return events;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    expect(await last('ap1')).toEqual([expect.objectContaining({ step: 'test-failed', outcome: 'failed', mailboxId: 'support', detail: 'failed for good (not retried): Jira refused the issue type' })]);
    // Only the last of three attempts is written: the first two were retried.
    expect(await last('af1')).toEqual([expect.objectContaining({ step: 'test-failed', outcome: 'failed', detail: 'gave up after 3 attempts: Jira answered 503' })]);
    expect(((await q.getJob('t|af1')) as Job).attemptsMade).toBe(3);
    await worker.close();
    await q.close();
  });

  it('ctx.park sets the job aside until the time given, then runs it again from the start, spending no attempt', async () => {
    const parkDef = defineQueue({ ...def, name: 'test-park' });
    const q = openQueue(parkDef, { connection: redis, prefix });
    const runs: number[] = [];
    let until = 0;
    const worker = startWorker(parkDef, async (_d, ctx) => {
      runs.push(Date.now());
      if (runs.length === 1) {
        until = Date.now() + 700;
        await ctx.park(until, 'waiting for something');
      }
      return 'ok';
    }, { connection: redis, prefix, logger: silentLogger });
    const parkEvents = new QueueEvents(parkDef.name, { connection: testRedis({ forWorker: true }), prefix });
    await parkEvents.waitUntilReady();
    const done = new Promise<void>((resolve) => parkEvents.on('completed', ({ jobId }) => jobId === 't|pk1' && resolve()));
    await addJob(q, parkDef, { id: 'pk1', behaviour: 'ok' });
    await done;
    const job = (await q.getJob('t|pk1')) as Job;
    expect(runs).toHaveLength(2);
    expect(runs[1]!).toBeGreaterThanOrEqual(until);
    // The completing run is the one attempt made: the park spent none.
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toBeFalsy();
    await worker.close();
    await parkEvents.close();
    await q.close();
  });

  it('fails a permanent error at once, without spending further attempts', async () => {
    const worker = startWorker(def, async (d) => {
      if (d.behaviour === 'permanent') throw new PermanentError('permanent: the mail names no sender');
      return 'ok';
    }, { connection: redis, prefix, logger: silentLogger });
    const done = finished('t|p1');
    await addJob(queue, def, { id: 'p1', behaviour: 'permanent' });
    expect(await done).toBe('failed');
    const job = (await queue.getJob('t|p1')) as Job;
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toContain('the mail names no sender');
    expect(await job.getState()).toBe('failed');
    await worker.close();
  });

  it('retries a retryable error and succeeds', async () => {
    let calls = 0;
    const worker = startWorker(def, async () => {
      calls += 1;
      if (calls < 3) throw new RetryableError('Jira answered 503');
      return 'ok';
    }, { connection: redis, prefix, logger: silentLogger });
    const done = finished('t|f1');
    await addJob(queue, def, { id: 'f1', behaviour: 'flaky' });
    expect(await done).toBe('completed');
    expect(calls).toBe(3);
    await worker.close();
  });

  it('an outage that fails every job alike says so once at warn, not once per job and attempt', async () => {
    const lines: { level: number; msg: string; reason?: string; alike?: number }[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
    const ids = Array.from({ length: 8 }, (_, i) => `out${i}`);
    const seen = new Map<string, number>();
    startWorker(def, async (data) => {
      const n = (seen.get(data.id) ?? 0) + 1;
      seen.set(data.id, n);
      if (n < 3) throw new RetryableError(data.id === 'out7' ? 'Jira answered 502' : 'Jira did not answer: ECONNREFUSED');
      return 'ok';
    }, { connection: redis, prefix, logger, concurrency: 8 });
    const done = Promise.all(ids.map((id) => finished(`t|${id}`)));
    for (const id of ids) await addJob(queue, def, { id, behaviour: 'flaky' });
    expect(await done).toEqual(ids.map(() => 'completed'));
    const retries = lines.filter((l) => l.msg === 'job failed, will retry');
    expect(retries).toHaveLength(16); // every attempt is still told, at debug past the first of its kind
    expect(retries.filter((l) => l.level === 40).map((l) => l.reason).sort()).toEqual(['Jira answered 502', 'Jira did not answer: ECONNREFUSED']);
  });

  it('a 429 makes every worker sharing the token wait, and does not spend an attempt', async () => {
    const otherDef = defineQueue({ ...def, name: 'test-other' });
    const other = openQueue(otherDef, { connection: redis, prefix });
    let calls = 0;
    const worker = startWorker(def, async () => {
      calls += 1;
      if (calls === 1) throw new RateLimitedError('429', 800);
      return 'ok';
    }, { connection: redis, prefix, logger: silentLogger, rateLimitQueues: [queue, other] });
    let otherRanAt = 0;
    const otherWorker = startWorker(otherDef, async () => {
      otherRanAt = Date.now();
      return 'ok';
    }, { connection: redis, prefix, logger: silentLogger });
    const done = finished('t|r1');
    await addJob(queue, def, { id: 'r1', behaviour: 'ratelimit' });
    // The window counts from when the limit is on the other queue: the processor's first call
    // comes before its 429 is mapped, and on a loaded machine the job added in between ran at
    // once (4 ms after the first call).
    let ttl = await other.getRateLimitTtl();
    while (ttl <= 0) {
      await new Promise((r) => setTimeout(r, 5));
      ttl = await other.getRateLimitTtl();
    }
    const limitedAt = Date.now();
    await addJob(other, otherDef, { id: 'o1', behaviour: 'ok' });
    expect(await done).toBe('completed');
    while (otherRanAt === 0) await new Promise((r) => setTimeout(r, 10));
    // The other queue's worker did not run its job inside the Retry-After window.
    // (What was left of it when read; 50 ms for the answer's way back to this loop.)
    expect(otherRanAt - limitedAt).toBeGreaterThanOrEqual(ttl - 50);
    const job = (await queue.getJob('t|r1')) as Job;
    // attemptsMade counts finished attempts: only the successful one; the limited run was handed back.
    expect(job.attemptsMade).toBe(1);
    expect(job.attemptsStarted).toBe(2);
    await worker.close();
    await otherWorker.close();
    await other.close();
  });

  it('a 429 on one issue\'s writes holds that job alone: the queue goes on, and no attempt is spent', async () => {
    const other = openQueue(def, { connection: redis, prefix });
    let calls = 0;
    let otherRanAt = 0;
    const worker = startWorker(def, async (data) => {
      if ((data as { id: string }).id === 'o2') {
        otherRanAt = Date.now();
        return 'ok';
      }
      calls += 1;
      if (calls === 1) throw new RateLimitedError('429 on SUP-1', 800, 'jira-per-issue-on-write');
      return 'ok';
    }, { connection: redis, prefix, logger: silentLogger, rateLimitQueues: [queue] });
    const done = finished('t|i1');
    await addJob(queue, def, { id: 'i1', behaviour: 'ratelimit' });
    while (calls === 0) await new Promise((r) => setTimeout(r, 10));
    const limitedAt = Date.now();
    await addJob(other, def, { id: 'o2', behaviour: 'ok' });
    while (otherRanAt === 0) await new Promise((r) => setTimeout(r, 10));
    // The queue was not held: another job ran inside the window...
    expect(otherRanAt - limitedAt).toBeLessThan(600);
    expect(await done).toBe('completed');
    // ...and the held job waited it out without spending an attempt.
    const job = (await queue.getJob('t|i1')) as Job;
    expect(job.attemptsMade).toBe(1);
    expect(Date.now() - limitedAt).toBeGreaterThanOrEqual(700);
    await worker.close();
    await other.close();
  });

  it('an auth failure calls onAuthError and hands the job back without spending an attempt', async () => {
    let calls = 0;
    const tripped: string[] = [];
    const worker = startWorker(def, async () => {
      calls += 1;
      if (calls === 1) throw new AuthError('token refused (401)');
      return 'ok';
    }, {
      connection: redis,
      prefix,
      logger: silentLogger,
      onAuthError: async (e) => {
        tripped.push(e.message);
      },
    });
    const done = finished('t|a1');
    await addJob(queue, def, { id: 'a1', behaviour: 'auth' });
    expect(await done).toBe('completed');
    expect(tripped).toEqual(['token refused (401)']);
    const job = (await queue.getJob('t|a1')) as Job;
    expect(job.attemptsMade).toBe(1);
    expect(job.attemptsStarted).toBe(2);
    await worker.close();
  });

  it('with no token stored, the job story says so, not that a token was refused', async () => {
    let calls = 0;
    const worker = startWorker(def, async () => {
      calls += 1;
      if (calls === 1) throw new TokenUnavailableError('no workaround token is stored: store one with `mailroom token set`');
      return 'ok';
    }, { connection: redis, prefix, logger: silentLogger, onAuthError: async () => undefined });
    const done = finished('t|n1');
    await addJob(queue, def, { id: 'n1', behaviour: 'auth' });
    expect(await done).toBe('completed');
    const { logs } = await queue.getJobLogs('t|n1');
    expect(logs[0]).toMatch(/^there is no usable workaround token \(no workaround token is stored/);
    expect(logs.join('\n')).not.toContain('refused');
    await worker.close();
  });

  it('a bad payload is a permanent failure naming the field', async () => {
    const worker = startWorker(def, async () => 'ok', { connection: redis, prefix, logger: silentLogger });
    const done = finished('bad-1');
    await queue.add(def.name, { id: 5 }, { jobId: 'bad-1', attempts: 3 });
    expect(await done).toBe('failed');
    const job = (await queue.getJob('bad-1')) as Job;
    expect(job.failedReason).toMatch(/bad test-q payload.*id/);
    expect(job.attemptsMade).toBe(1);
    await worker.close();
  });
});

describe('startWorker without a token gate', () => {
  it('an auth failure spends an attempt with backoff instead of spinning on the refused token', async () => {
    let calls = 0;
    const worker = startWorker(def, async () => {
      calls += 1;
      throw new AuthError('token refused (401)');
    }, { connection: redis, prefix, logger: silentLogger });
    const done = finished('t|a2');
    await addJob(queue, def, { id: 'a2', behaviour: 'auth' });
    expect(await done).toBe('failed');
    const job = (await queue.getJob('t|a2')) as Job;
    expect(job.attemptsMade).toBe(3);
    expect(calls).toBe(3);
    await worker.close();
  });
});
