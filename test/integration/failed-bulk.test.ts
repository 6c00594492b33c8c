// Bulk retry/remove are resumable and safe to run twice at once: each job is handled on its own
// and only while it is still failed. Real jobs failed by a real worker on a real Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queue, Worker } from 'bullmq';
import { identityProvision } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startWorker } from '../../src/station/worker.js';
import { PermanentError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { runBulk } from '../../src/ops/bulk.js';
import { closeQueues, listFailed, onlyQueue, openQueues, pruneFailed, type OpsQueues } from '../../src/ops/queue-status.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('bulk');
const redis = testRedis({ forWorker: true });
let queue: Queue;
let worker: Worker;
let ops: OpsQueues;
const N = 30;

async function failedCount(): Promise<number> {
  return (await queue.getJobCounts('failed')).failed ?? 0;
}

async function failAll(tag: string): Promise<void> {
  for (let i = 0; i < N; i++) {
    await addJob(queue, identityProvision, { site: 'acme.atlassian.net', email: `${tag}${i}@example.com`, mode: 'user', mailboxId: 'support' });
  }
  const end = Date.now() + 30_000;
  while ((await failedCount()) < N) {
    if (Date.now() > end) throw new Error('jobs did not fail');
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  queue = openQueue(identityProvision, { connection: redis, prefix });
  ops = onlyQueue(openQueues({ connection: redis, prefix }), 'identity-provision');
});

afterAll(async () => {
  await worker?.close();
  await queue.close();
  await closeQueues(ops);
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('bulk retry', () => {
  it('stops when told, and a second run retries exactly the rest', async () => {
    worker = startWorker(identityProvision, async () => Promise.reject(new PermanentError('refused')), { connection: redis, prefix, logger: silentLogger });
    await failAll('a');
    await worker.close(); // keep retried jobs waiting, so they are easy to count
    const items = (await listFailed(ops)).map((j) => ({ queue: j.queue, id: j.id }));
    expect(items).toHaveLength(N);

    let calls = 0;
    const first = await runBulk(ops, 'retry', items, { shouldStop: () => calls++ >= 10 });
    expect(first).toMatchObject({ interrupted: true, done: 10, total: N });
    expect(first.counts.retried).toBe(10);
    expect(await failedCount()).toBe(N - 10);

    // The same command again: a fresh snapshot holds only what is still failed.
    const rest = (await listFailed(ops)).map((j) => ({ queue: j.queue, id: j.id }));
    expect(rest).toHaveLength(N - 10);
    const second = await runBulk(ops, 'retry', rest);
    expect(second).toMatchObject({ interrupted: false, done: N - 10 });
    expect(second.counts.retried).toBe(N - 10);
    expect(await failedCount()).toBe(0);
    expect((await queue.getJobCounts('waiting')).waiting).toBe(N);

    // An old snapshot replayed: nothing is retried twice.
    const replay = await runBulk(ops, 'retry', items);
    expect(replay.counts).toMatchObject({ retried: 0, 'not-failed': N });
  });

  it('two runs at once over the same jobs retry each exactly once', async () => {
    await queue.obliterate({ force: true });
    worker = startWorker(identityProvision, async () => Promise.reject(new PermanentError('refused')), { connection: redis, prefix, logger: silentLogger });
    await failAll('b');
    await worker.close();
    const items = (await listFailed(ops)).map((j) => ({ queue: j.queue, id: j.id }));
    const [x, y] = await Promise.all([runBulk(ops, 'retry', items), runBulk(ops, 'retry', [...items].reverse())]);
    expect(x.counts.retried + y.counts.retried).toBe(N);
    expect(x.counts.error + y.counts.error).toBe(0);
    expect(x.counts['not-failed'] + y.counts['not-failed']).toBe(N);
    expect(await failedCount()).toBe(0);
  });

  it('remove and prune touch only failed jobs', async () => {
    await queue.obliterate({ force: true });
    worker = startWorker(identityProvision, async () => Promise.reject(new PermanentError('refused')), { connection: redis, prefix, logger: silentLogger });
    await failAll('c');
    await worker.close();
    const items = (await listFailed(ops)).map((j) => ({ queue: j.queue, id: j.id }));
    // Retry one first: remove must leave it alone (it is waiting, not failed).
    await runBulk(ops, 'retry', items.slice(0, 1));
    const removed = await runBulk(ops, 'remove', items);
    expect(removed.counts).toMatchObject({ removed: N - 1, 'not-failed': 1 });
    expect(await queue.getJob(items[0]!.id)).toBeDefined();
    expect(await queue.getJob(items[1]!.id)).toBeUndefined();
    // Prune by age: nothing failed before an hour ago, everything before now + 1 s.
    worker = startWorker(identityProvision, async () => Promise.reject(new PermanentError('refused')), { connection: redis, prefix, logger: silentLogger });
    const end = Date.now() + 30_000;
    while ((await failedCount()) < 1) {
      if (Date.now() > end) throw new Error('the retried job did not fail again');
      await new Promise((r) => setTimeout(r, 100));
    }
    await worker.close();
    expect(await pruneFailed(ops, Date.now() - 3_600_000)).toEqual([{ queue: 'identity-provision', removed: 0 }]);
    expect(await pruneFailed(ops, Date.now() + 1000)).toEqual([{ queue: 'identity-provision', removed: 1 }]);
    expect(await failedCount()).toBe(0);
  });
});
