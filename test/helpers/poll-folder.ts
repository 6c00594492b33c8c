// A real poller on one fresh Dovecot folder: append the mails (with their flags), start the
// poller on that folder with the given config additions, and read back what it enqueued. For
// tests of what the poller reads and how it classifies, each in its own folder and key prefix.
import type { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { parseConfig } from '../../src/config/load.js';
import { startPoller } from '../../src/imap/poller.js';
import { silentLogger } from '../../src/core/log.js';
import { createMailStore } from '../../src/mail/store.js';
import type { MailRecord } from '../../src/mail/record.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { pollerTestConfig, type Dovecot } from './dovecot.js';
import { dropPrefix, uniquePrefix } from './redis.js';

const STATES = ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'] as const;

export interface PolledFolder {
  /** The records of every mail-inbound job so far. */
  records(): Promise<MailRecord[]>;
  stop(): Promise<void>;
}

export async function pollFolder(
  dovecot: Dovecot,
  redis: Redis,
  opts: {
    storeDir: string;
    folder: string;
    mails: (string | { raw: string; flags: string[] })[];
    /** Config sections beside the test mailbox (e.g. smtp), and the mailbox's own additions. */
    config?: Record<string, unknown>;
    mailbox?: Record<string, unknown>;
    parseThreads?: boolean;
    inMemoryMaxBytes?: number;
  },
): Promise<PolledFolder> {
  const client = await dovecot.client();
  try {
    await client.mailboxCreate(opts.folder);
    for (const m of opts.mails) await (typeof m === 'string' ? client.append(opts.folder, m) : client.append(opts.folder, m.raw, m.flags));
  } finally {
    await client.logout().catch(() => client.close());
  }
  const prefix = uniquePrefix(`poll-${opts.folder.toLowerCase()}`);
  const { raw, env } = pollerTestConfig(dovecot, { storeDir: opts.storeDir, folder: opts.folder, ...(opts.mailbox ? { mailbox: opts.mailbox } : {}) });
  const config = { ...parseConfig({ ...raw, store: { kind: 'redis' }, ...opts.config }, env), prefix };
  const queue = new Queue(mailInbound.name, { connection: redis, prefix });
  const poller = startPoller({
    config,
    redis,
    store: createMailStore(config, redis),
    logger: silentLogger,
    ...(opts.parseThreads === false ? { parseThreads: false } : {}),
    settings: { heartbeatIntervalMs: 500, ...(opts.inMemoryMaxBytes ? { inMemoryMaxBytes: opts.inMemoryMaxBytes } : {}) },
  });
  return {
    records: async () => (await queue.getJobs([...STATES], 0, -1)).map((j) => (j.data as { record: MailRecord }).record),
    stop: async () => {
      await poller.stop();
      await queue.close();
      await dropPrefix(redis, prefix);
    },
  };
}
