// The ceiling Mailroom's stages are measured against: BullMQ adding and processing empty jobs
// on the same Redis, in the same run.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';

export interface BullmqCeiling {
  jobs: number;
  addPerSec: number;
  processPerSec: number;
  concurrency: number;
}

export async function benchBullmq(opts: { jobs: number; concurrency?: number; redisUrl?: string }): Promise<BullmqCeiling> {
  const url = opts.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `{mrbench-${randomBytes(3).toString('hex')}}`;
  const concurrency = opts.concurrency ?? 50;
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue('ceiling', { connection: conn, prefix });
  const t0 = performance.now();
  const batch = 1000;
  for (let i = 0; i < opts.jobs; i += batch) {
    const n = Math.min(batch, opts.jobs - i);
    await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name: 'e', data: { i: i + k } })));
  }
  const addMs = performance.now() - t0;
  let done = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  const workerConn = new Redis(url, { maxRetriesPerRequest: null });
  const t1 = performance.now();
  const worker = new Worker(
    'ceiling',
    async () => {
      done += 1;
      if (done === opts.jobs) allDone();
    },
    { connection: workerConn, prefix, concurrency, removeOnComplete: { count: 0 } },
  );
  await finished;
  const processMs = performance.now() - t1;
  await worker.close();
  workerConn.disconnect();
  await queue.obliterate({ force: true });
  await queue.close();
  conn.disconnect();
  return {
    jobs: opts.jobs,
    addPerSec: Math.round(opts.jobs / (addMs / 1000)),
    processPerSec: Math.round(opts.jobs / (processMs / 1000)),
    concurrency,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchBullmq({ jobs: 20_000 }).then((r) => console.log(r));
}
