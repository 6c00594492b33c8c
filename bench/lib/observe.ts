// Reading what a run did: the queues' jobs (timestamps BullMQ keeps on each job), their
// counts, and the simulator's issues keyed by the Message-ID the deliverer records on them.
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { MESSAGE_PROPERTY } from '../../src/deliver/deliverer.js';
import type { JiraSim, SimIssue } from '../../src/jira-sim/index.js';
import { bareId } from './mails.js';

export const QUEUE_NAMES = ['mail-inbound', 'identity-provision', 'jira-deliver', 'mailbox-actions'] as const;
export type BenchQueue = (typeof QUEUE_NAMES)[number];

export function openQueues(conn: Redis, prefix: string): Record<BenchQueue, Queue> {
  return Object.fromEntries(QUEUE_NAMES.map((n) => [n, new Queue(n, { connection: conn, prefix })])) as Record<BenchQueue, Queue>;
}

export async function closeQueues(qs: Record<BenchQueue, Queue>): Promise<void> {
  await Promise.all(Object.values(qs).map((q) => q.close()));
}

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

export async function counts(qs: Record<BenchQueue, Queue>): Promise<Record<BenchQueue, Record<string, number>>> {
  const out = {} as Record<BenchQueue, Record<string, number>>;
  for (const n of QUEUE_NAMES) out[n] = await qs[n].getJobCounts(...STATES);
  return out;
}

/** Jobs not finished: waiting, active, delayed, prioritized, or waiting for children. */
export function unfinished(c: Record<string, number>): number {
  return (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0);
}

export interface JobTimes {
  messageId: string | undefined;
  id: string | undefined;
  timestamp: number;
  processedOn?: number;
  finishedOn?: number;
}

export async function jobTimes(q: Queue, states: ('completed' | 'failed' | 'waiting' | 'delayed' | 'active')[] = ['completed']): Promise<JobTimes[]> {
  const jobs: Job[] = [];
  for (let start = 0; ; start += 1000) {
    const page = await q.getJobs(states, start, start + 999, true);
    jobs.push(...page.filter(Boolean));
    if (page.length < 1000) break;
  }
  return jobs.map((j) => {
    const d = j.data as { record?: { messageId?: string } } | undefined;
    return { messageId: bareId(d?.record?.messageId), id: j.id, timestamp: j.timestamp, processedOn: j.processedOn, finishedOn: j.finishedOn };
  });
}

/** The simulator's issues by the Message-ID in their mailroom.message property. */
export function issuesByMessage(sim: JiraSim): Map<string, SimIssue[]> {
  const out = new Map<string, SimIssue[]>();
  for (const issue of sim.state.allIssues()) {
    const id = bareId((issue.properties.get(MESSAGE_PROPERTY) as { id?: string } | undefined)?.id);
    if (!id) continue;
    const list = out.get(id) ?? [];
    list.push(issue);
    out.set(id, list);
  }
  return out;
}

export async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs: number, onTimeout?: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${onTimeout ? `: ${await onTimeout()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Redis memory: INFO used_memory, and MEMORY USAGE summed over keys matching a pattern. */
export async function usedMemory(conn: Redis): Promise<number> {
  const info = await conn.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

export async function memoryOfKeys(conn: Redis, pattern: string): Promise<{ keys: number; bytes: number }> {
  let cursor = '0';
  let keys = 0;
  let bytes = 0;
  do {
    const [next, batch] = await conn.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of batch) {
      const b = (await conn.memory('USAGE', k, 'SAMPLES', '0')) as number | null;
      if (b) {
        keys++;
        bytes += b;
      }
    }
  } while (cursor !== '0');
  return { keys, bytes };
}
