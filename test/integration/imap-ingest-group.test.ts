// A fetch group's mails reach the queue one by one, each as soon as it is stored and parsed:
// a slow mail does not hold back the others' jobs (issue #25: in a burst, the first mails of a
// group waited on the last). Real Dovecot, real Redis and the filesystem store; the store is
// only held back for one mail (a gate the test opens), so nothing is timed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/log.js';
import { ingestGroup, type Enqueued } from '../../src/imap/batch.js';
import { fetchGroups, type IngestOptions } from '../../src/imap/ingest.js';
import { FsMailStore, type MailStore } from '../../src/mail/store.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`IMAP ingest-group tests skipped: ${why}`);

describe.skipIf(!!why)('IMAP ingest: a fetch group adds each job when its mail is ready', () => {
  let dovecot: Dovecot;
  let client: ImapFlow;
  let storeDir: string;
  const prefix = uniquePrefix('imap-group');
  const redis = testRedis();
  let queue: Queue;

  beforeAll(async () => {
    dovecot = await startDovecot();
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-'));
    queue = new Queue(mailInbound.name, { connection: redis, prefix });
    client = await dovecot.client();
    for (const n of [1, 2, 3]) await client.append('INBOX', testMail(n));
    await client.mailboxOpen('INBOX');
  });
  afterAll(async () => {
    await client?.logout().catch(() => client.close());
    await queue?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await dovecot?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  it('adds the other mails\' jobs while one mail is still being stored, and waits for it before returning', async () => {
    const real = new FsMailStore(storeDir);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    // The real store, except that mail 2's raw source waits for the gate.
    const store: MailStore = Object.assign(Object.create(real) as MailStore, {
      put: async (raw: Buffer) => {
        if (raw.includes('<test-2@mailroom.test>')) await gate;
        return real.put(raw);
      },
    });
    const metas = (await client.fetchAll('1:*', { uid: true, size: true }, { uid: true })).map((m) => ({ uid: m.uid, size: m.size }));
    const opts: IngestOptions = { mailboxId: 'support', uidvalidity: String(client.mailbox && client.mailbox.uidValidity), store, queue, maxMessageBytes: 10_000_000 };
    const groups = fetchGroups(metas, opts);
    expect(groups).toHaveLength(1); // three small mails: one FETCH

    const heard: Enqueued[] = [];
    let returned = false;
    const ingesting = ingestGroup(client, groups[0]!, opts, silentLogger, (it) => heard.push(it)).then(() => (returned = true));
    // Mails 1 and 3 are in the queue while mail 2 is held.
    await waitFor('the jobs of mails 1 and 3', async () => (await queue.count()) >= 2);
    const ids = (await queue.getJobs(['waiting'])).map((j) => (j.data as { record: { messageId?: string } }).record.messageId).sort();
    expect(ids).toEqual(['<test-1@mailroom.test>', '<test-3@mailroom.test>']);
    expect(heard.map((h) => h.uid).sort()).toEqual([1, 3]);
    expect(returned).toBe(false); // the caller must not move its cursor past mail 2 yet

    open();
    await ingesting;
    expect(heard.map((h) => h.uid).sort()).toEqual([1, 2, 3]);
    expect(await queue.count()).toBe(3);
  });
});
