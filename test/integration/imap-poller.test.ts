// The poller against a real Dovecot and a real Redis: every mail appended is enqueued exactly
// once, whether it arrived before the start, in bursts during IDLE, or while the poller was
// cut off from the server; Dovecot restarts and a flushed cursor lose nothing and add nothing.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { readCursor } from '../../src/imap/cursor.js';
import { readHeartbeats } from '../../src/imap/heartbeat.js';
import { imapKeys } from '../../src/imap/keys.js';
import { startPoller, type Poller } from '../../src/imap/poller.js';
import { silentLogger } from '../../src/core/log.js';
import { createMailStore } from '../../src/mail/store.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`IMAP poller tests skipped: ${why}`);

const ALL_STATES = ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'waiting-children'] as const;

/** Message-ID -> how many mail-inbound jobs carry it. */
async function jobsByMessageId(queue: Queue): Promise<Map<string, number>> {
  const jobs = await queue.getJobs([...ALL_STATES], 0, -1);
  const counts = new Map<string, number>();
  for (const j of jobs) {
    const id = (j.data as { record: { messageId?: string } }).record.messageId ?? `(none:${j.id})`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

async function appendMany(dovecot: Dovecot, from: number, count: number, parallel = 4): Promise<void> {
  // A few connections appending at once: bursts as a busy mailbox sees them.
  const clients = await Promise.all(Array.from({ length: parallel }, () => dovecot.client()));
  try {
    let next = from;
    await Promise.all(
      clients.map(async (c) => {
        while (next < from + count) {
          const n = next++;
          await c.append('INBOX', testMail(n));
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.logout().catch(() => c.close())));
  }
}

describe.skipIf(!!why)('IMAP poller: exactly once', () => {
  let dovecot: Dovecot;
  let storeDir: string;
  const prefix = uniquePrefix('imap-poller');
  const redis = testRedis();
  let queue: Queue;
  let poller: Poller | undefined;

  beforeAll(async () => {
    dovecot = await startDovecot();
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-'));
    queue = new Queue(mailInbound.name, { connection: redis, prefix });
  });
  afterAll(async () => {
    await poller?.stop();
    await queue?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await dovecot?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  function start(): Poller {
    const { raw, env } = pollerTestConfig(dovecot, { storeDir, mailbox: { resyncInterval: '2s' } });
    // The Redis store: the filesystem store's fsync per mail would make this test about the disk.
    const config = { ...parseConfig({ ...raw, store: { kind: 'redis' } }, env), prefix };
    return startPoller({
      config,
      redis,
      store: createMailStore(config, redis),
      logger: silentLogger,
      settings: { heartbeatIntervalMs: 500 },
    });
  }

  const expectExactly = async (total: number) => {
    // Counting is cheap; reading every job is not: read them once the count is there, and
    // once more after a resync interval has passed, to catch a late duplicate.
    await waitFor(`${total} mails enqueued`, async () => (await queue.getJobCountByTypes(...ALL_STATES)) >= total, 60_000);
    await new Promise((r) => setTimeout(r, 2500));
    const counts = await jobsByMessageId(queue);
    const dupes = [...counts].filter(([, n]) => n !== 1);
    expect(dupes).toEqual([]);
    expect(counts.size).toBe(total);
    for (let n = 0; n < total; n++) expect(counts.get(`<test-${n}@mailroom.test>`), `mail ${n}`).toBe(1);
  };

  it('enqueues a backlog, bursts during IDLE, and mail that came while Dovecot was down, each once', async () => {
    // 1. Backlog from before the poller started.
    await appendMany(dovecot, 0, 200);
    poller = start();
    await expectExactly(200);
    const hb = await waitFor('an idle heartbeat', async () => {
      const [h] = await readHeartbeats(redis, prefix);
      return h?.state === 'idle' ? h : undefined;
    });
    expect(hb.idleSupported).toBe(true);
    expect(hb.lastSyncAt).toBeTruthy();

    // 2. Bursts while it idles: several connections appending at once.
    await appendMany(dovecot, 200, 500, 6);
    await expectExactly(700);

    // 3. The server goes away; mail arrives as it comes back, while the poller reconnects.
    await dovecot.halt();
    // The error stays on the heartbeat until a connection succeeds again.
    const down = await waitFor('the poller to notice', async () => {
      const [h] = await readHeartbeats(redis, prefix);
      return h?.lastError && (h.state === 'backoff' || h.state === 'connecting') ? h : undefined;
    });
    await dovecot.resume();
    await appendMany(dovecot, 700, 300, 6);
    await expectExactly(1000);
    expect(down.lastError).toMatch(/cannot reach IMAP server 127\.0\.0\.1:\d+|connection/i);
    const [back] = await readHeartbeats(redis, prefix);
    expect(back?.lastError).toBeUndefined();

    const cursor = await readCursor(redis, prefix, 'support');
    expect(cursor?.lastUid).toBe(1000);
  });

  it('after its cursor is flushed, reads the mailbox again without adding a job', async () => {
    await redis.del(imapKeys.cursor(prefix, 'support'));
    // Restart the poller so it reads the (now missing) cursor at connect.
    await poller?.stop();
    poller = start();
    await waitFor('the cursor to be rebuilt', async () => ((await readCursor(redis, prefix, 'support'))?.lastUid === 1000 ? true : undefined));
    await expectExactly(1000);
    expect(await queue.count()).toBe(1000);
  });

  it('keeps going after a Dovecot restart, reading what came meanwhile', async () => {
    await dovecot.restart();
    await appendMany(dovecot, 1000, 20);
    await expectExactly(1020);
  });
});
