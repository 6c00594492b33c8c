// A pipeline run against the Jira simulator, for the integration tests, the benchmark and the
// demo: synthetic mail records for a population of senders (some known to Jira, some not),
// the pipeline's workers in this process, and waiting until every mail has settled.
import { createHash } from 'node:crypto';
import type { Queue, Worker } from 'bullmq';
import { mailboxSchema, type MailboxConfig, type RetryConfig } from '../../src/config/schema.js';
import { seededRandom } from '../../src/jira-sim/state.js';
import type { Logger } from '../../src/core/log.js';
import type { MailRecord } from '../../src/mail/record.js';
import { identityProvision, jiraDeliver, mailboxActions, mailInbound } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import type { Redis } from '../../src/core/redis.js';
import { createIdentityContext, type IdentityContext } from '../../src/identity/context.js';
import type { MailInbound } from '../../src/identity/resolver.js';
import { gatedClientMaker, type RetryAfterObserver } from '../../src/jira/retry-after.js';
import { startProvisionerWorker, startResolverWorker } from './stage-workers.js';

/** The pipeline's queues, for a test to add jobs and look at them (the workers open their own). */
export interface PipelineQueues {
  mailInbound: Queue;
  identityProvision: Queue;
  jiraDeliver: Queue;
  mailboxActions: Queue;
}

export function openPipelineQueues(connection: Redis, prefix: string): PipelineQueues & { all: Queue[] } {
  const q = {
    mailInbound: openQueue(mailInbound, { connection, prefix }),
    identityProvision: openQueue(identityProvision, { connection, prefix }),
    jiraDeliver: openQueue(jiraDeliver, { connection, prefix }),
    mailboxActions: openQueue(mailboxActions, { connection, prefix }),
  };
  return { ...q, all: Object.values(q) };
}

/** A deterministic pseudo-random sequence (mulberry32), so workloads repeat. */
export const seeded = seededRandom;

export function humanRecord(o: {
  from: { address: string; name?: string };
  messageId: string;
  subject?: string;
  to?: { address: string; name?: string }[];
  cc?: { address: string; name?: string }[];
}): MailRecord {
  const sha256 = createHash('sha256').update(o.messageId).digest('hex');
  return {
    v: 1,
    rawRef: { sha256, size: 1000 },
    messageId: o.messageId,
    references: [],
    subject: o.subject ?? `Help with ${o.messageId}`,
    from: o.from,
    replyTo: [],
    to: o.to ?? [],
    cc: o.cc ?? [],
    text: 'Hello, I need help.',
    textTruncated: false,
    fromHtml: false,
    attachments: [],
    attachmentsTruncated: false,
    headers: {},
    classification: { kind: 'human', reason: 'no automation signals' },
  };
}

export interface Workload {
  mails: MailInbound[];
  /** Senders Jira knows before the run. */
  known: string[];
  /** Senders Jira does not know: exactly these should get accounts. */
  unknown: string[];
}

/**
 * `mails` mails from `senders` senders, `unknown` of whom Jira does not know; every sender
 * sends at least one mail, the rest are spread at random (some senders write a lot).
 */
export function makeWorkload(o: { mails: number; senders: number; unknown: number; mailboxId: string; to: string; seed?: number; tag?: string }): Workload {
  const rand = seeded(o.seed ?? 42);
  const tag = o.tag ?? 'w';
  const senders = Array.from({ length: o.senders }, (_, i) => (i < o.unknown ? `new${i}.${tag}@customer${i % 7}.example` : `known${i}.${tag}@partner${i % 5}.example`));
  const mails: MailInbound[] = [];
  for (let i = 0; i < o.mails; i++) {
    // First one mail per sender, then a skewed spread: low indexes (new senders) write more.
    const s = i < o.senders ? senders[i]! : senders[Math.floor(rand() ** 2 * o.senders)]!;
    const name = s.startsWith('new') && i % 3 === 0 ? undefined : `Person ${s.split('@')[0]}`;
    mails.push({
      mailboxId: o.mailboxId,
      origin: { kind: 'file', name: `${tag}-${i}.eml` },
      record: humanRecord({ from: name ? { address: s, name } : { address: s }, to: [{ address: o.to }], messageId: `<${tag}-${i}@mail.example>` }),
      receivedAt: new Date().toISOString(),
    });
  }
  // Shuffle so senders' mails interleave (concurrent mails from one new sender).
  for (let i = mails.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [mails[i], mails[j]] = [mails[j]!, mails[i]!];
  }
  return { mails, known: senders.slice(o.unknown), unknown: senders.slice(0, o.unknown) };
}

/** Short backoffs for tests and the benchmark: faults are retried in ms, not minutes. */
export const FAST_RETRY: Partial<Record<string, RetryConfig>> = {
  'mail-inbound': { attempts: 50, delay: '50ms', maxDelay: '1s' },
  'identity-provision': { attempts: 50, delay: '50ms', maxDelay: '1s' },
  'jira-deliver': { attempts: 50, delay: '50ms', maxDelay: '1s' },
};

export function testMailbox(o: Record<string, unknown>): MailboxConfig {
  return mailboxSchema.parse(o);
}

export interface InProcessPipeline {
  pipeline: IdentityContext;
  queues: PipelineQueues & { all: Queue[] };
  workers: Worker[];
  enqueue(mails: MailInbound[]): Promise<void>;
  /** Resolves when no mail job is waiting, active or delayed; returns the final counts. */
  settled(opts?: { timeoutMs?: number; pollMs?: number }): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export interface InProcessOptions {
  /** A connection for keys and queues. */
  redis: Redis;
  /** Make a new worker connection (BullMQ: maxRetriesPerRequest null). */
  workerConnection: () => Redis;
  prefix: string;
  mailboxes: MailboxConfig[];
  jira: { url: string; email: string; token: string; timeoutMs?: number };
  logger: Logger;
  cache?: { positiveTtlMs: number; negativeTtlMs: number };
  resolverConcurrency?: number;
  provisionerConcurrency?: number;
  retryAfterObserver?: RetryAfterObserver;
  /** Retry overrides per queue name (tests use short backoffs). */
  retry?: Partial<Record<string, RetryConfig>>;
  /** How long group adds may answer "user not found" for a new account (default USER_PROPAGATION_MS). */
  userPropagationMs?: number;
  /** Start only these roles (default both). */
  roles?: ('resolver' | 'provisioner')[];
}

export async function startInProcess(o: InProcessOptions): Promise<InProcessPipeline> {
  // Gated as the roles' clients are (src/token/runtime.ts): one Retry-After gate where clients are made.
  const { gate, make } = gatedClientMaker({ redis: o.redis, prefix: o.prefix, site: o.jira.url, observer: o.retryAfterObserver });
  const client = make({ baseUrl: o.jira.url, email: o.jira.email, token: o.jira.token, timeoutMs: o.jira.timeoutMs ?? 5_000 });
  const pipeline = createIdentityContext({
    redis: o.redis,
    prefix: o.prefix,
    site: o.jira.url,
    mailboxes: o.mailboxes,
    cache: o.cache ?? { positiveTtlMs: 6 * 3600_000, negativeTtlMs: 10 * 60_000 },
    jira: async () => ({ client, account: o.jira.email }),
    logger: o.logger,
    retry: o.retry,
    ...(o.userPropagationMs !== undefined ? { userPropagationMs: o.userPropagationMs } : {}),
  });
  const queues = openPipelineQueues(o.redis, o.prefix);
  const tokenQueues = [queues.mailInbound, queues.identityProvision, queues.jiraDeliver];
  const roles = o.roles ?? ['resolver', 'provisioner'];
  const workers: Worker[] = [];
  if (roles.includes('resolver')) {
    workers.push(startResolverWorker(pipeline, { connection: o.workerConnection(), logger: o.logger, concurrency: o.resolverConcurrency, rateLimitQueues: tokenQueues }));
  }
  if (roles.includes('provisioner')) {
    workers.push(startProvisionerWorker(pipeline, { connection: o.workerConnection(), logger: o.logger, concurrency: o.provisionerConcurrency, rateLimitQueues: tokenQueues }));
  }
  return {
    pipeline,
    queues,
    workers,
    async enqueue(mails) {
      for (let i = 0; i < mails.length; i += 500) {
        await Promise.all(mails.slice(i, i + 500).map((m) => addJob(queues.mailInbound, mailInbound, m, o.retry)));
      }
    },
    settled: (opts) => settled(queues, opts),
    async stop() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(workers.map((w) => w.disconnect?.()));
      await Promise.all(queues.all.map((q) => q.close()));
      await pipeline.jobs.close();
      await gate.close();
    },
  };
}

/** Wait until neither queue has waiting, active, delayed or prioritized jobs. */
export async function settled(queues: PipelineQueues, opts: { timeoutMs?: number; pollMs?: number } = {}): Promise<Record<string, number>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const [m, p] = await Promise.all([
      queues.mailInbound.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'),
      queues.identityProvision.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'),
    ]);
    const busy = (c: Record<string, number>) => (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0);
    if (busy(m) === 0 && busy(p) === 0) {
      return Object.fromEntries([...Object.entries(m).map(([k, v]) => [`mail.${k}`, v]), ...Object.entries(p).map(([k, v]) => [`provision.${k}`, v])]);
    }
    if (Date.now() > deadline) {
      throw new Error(`pipeline not settled: mail ${JSON.stringify(m)}, provision ${JSON.stringify(p)}`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
  }
}
