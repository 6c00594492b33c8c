// The deliverer in this process on its own jira-deliver queue, for tests that deliver mails one
// at a time and look at what the Jira simulator got (deliver-resolved, deliver-locked-issue).
import { QueueEvents, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MailboxConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/log.js';
import type { Metrics } from '../../src/core/metrics.js';
import type { DeliverResult } from '../../src/deliver/deliverer.js';
import type { MailStore } from '../../src/mail/store.js';
import { createAuditTrail, type AuditTrail } from '../../src/queues/audit.js';
import { jiraDeliver } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import type { WorkerDeps } from '../../src/station/worker.js';
import { rawMail, storedRecord, type RawMailInput } from './deliver-testkit.js';
import type { SeededSim } from './jira-sim.js';
import { testRedis } from './redis.js';
import { FAST_RETRY } from './sim-run.js';
import { startDelivererWorker } from './stage-workers.js';

/**
 * The deliverer in this process on its own queue, for tests that deliver mails one at a time and
 * look at what Jira got: the jira-deliver queue and its events, the audit trail, the worker (on
 * the simulator's client, FAST_RETRY), and `deliver`, which stores a raw mail, adds its job as
 * the resolver would (the sender known as Alice, from an IMAP position) and waits for its result.
 */
export interface DeliverRig {
  deliverQ: Queue;
  audit: AuditTrail;
  deliver(mailboxId: string, m: RawMailInput): Promise<Delivered>;
  close(): Promise<void>;
}

export type Delivered = Extract<DeliverResult, { issueKey: string }>;

export async function startDeliverRig(o: {
  jira: SeededSim;
  redis: Redis;
  prefix: string;
  store: MailStore;
  mailboxes: MailboxConfig[];
  metrics?: Metrics;
  /** The worker's token-gate hook (a refused token lands here). */
  onAuthError?: WorkerDeps['onAuthError'];
}): Promise<DeliverRig> {
  const { jira, redis, prefix, store } = o;
  const conns: Redis[] = [testRedis({ forWorker: true }), testRedis({ forWorker: true })];
  const deliverQ = openQueue(jiraDeliver, { connection: redis, prefix });
  const events = new QueueEvents(jiraDeliver.name, { connection: conns[0]!, prefix });
  await events.waitUntilReady();
  const audit = createAuditTrail({ redis, prefix });
  const byId = new Map(o.mailboxes.map((m) => [m.id, m]));
  const client = jira.client();
  const worker = startDelivererWorker(
    { redis, prefix, mailbox: (id) => byId.get(id), store, jira: async () => client, retry: FAST_RETRY, lockMs: 5_000, audit, recoverySettleMs: 300, recoveryWindowMs: 1_000, ...(o.metrics ? { metrics: o.metrics } : {}) },
    { connection: conns[1]!, logger: silentLogger, concurrency: 2, ...(o.onAuthError ? { onAuthError: o.onAuthError } : {}) },
  );
  let uid = 1;
  return {
    deliverQ,
    audit,
    async deliver(mailboxId, m) {
      const record = await storedRecord(store, rawMail({ to: `${mailboxId}@acme.example`, ...m }));
      const job = await addJob(
        deliverQ,
        jiraDeliver,
        {
          mailboxId,
          origin: { kind: 'imap', uidvalidity: '7', uid: uid++, internalDate: new Date().toISOString() },
          record,
          people: [{ email: 'alice@acme.example', role: 'sender', status: 'known', accountId: jira.site.users.alice.accountId }],
        },
        FAST_RETRY,
      );
      return (await job.waitUntilFinished(events, 20_000)) as Delivered;
    },
    async close() {
      await worker.close();
      await events.close();
      await deliverQ.close();
      for (const c of conns) c.disconnect();
    },
  };
}
