// Looking at other queues' jobs: whether a provision job finished or failed, which deliver job
// a mail became, which waiting mail jobs to wake. Processors add jobs through ctx.add; this
// only reads (and promotes), on queues opened on first use on the pipeline's connection.
import type { Job, JobState, Queue } from 'bullmq';
import type { z } from 'zod';
import type { Redis } from '../core/redis.js';
import type { QueueDef } from '../queues/define.js';
import { openQueue } from '../queues/queue.js';

export interface JobReader {
  job<S extends z.ZodType>(def: QueueDef<S>, id: string): Promise<Job | undefined>;
  state<S extends z.ZodType>(def: QueueDef<S>, id: string): Promise<JobState | 'unknown'>;
  close(): Promise<void>;
}

export function jobReader(connection: Redis, prefix: string): JobReader {
  const opened = new Map<string, Queue>();
  const queue = <S extends z.ZodType>(def: QueueDef<S>): Queue => {
    let q = opened.get(def.name);
    if (!q) opened.set(def.name, (q = openQueue(def, { connection, prefix })));
    return q;
  };
  return {
    job: async (def, id) => (await queue(def).getJob(id)) ?? undefined,
    state: (def, id) => queue(def).getJobState(id),
    async close() {
      await Promise.all([...opened.values()].map((q) => q.close()));
      opened.clear();
    },
  };
}
