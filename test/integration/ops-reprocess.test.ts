// reprocessMail for a mail without Message-ID read from IMAP and run again from its raw file:
// its jobs are found (the mail-inbound one by its IMAP origin, not by the file's hash) and
// removed, so the fresh mail-inbound job really runs instead of landing on the old job's id.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { FsMailStore } from '../../src/mail/store.js';
import { prepareMail } from '../../src/mail/prepare.js';
import { reprocessMail } from '../../src/ops/reprocess.js';
import { jiraDeliver, mailInbound } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis({ forWorker: true });
const prefix = uniquePrefix('ops-reprocess');
const dir = mkdtempSync(join(tmpdir(), 'ops-reprocess-'));

afterAll(async () => {
  await dropPrefix(redis, prefix);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

describe('reprocessMail --file', () => {
  it('removes the IMAP mail-inbound job of a mail without Message-ID, so the fresh job runs', async () => {
    const store = new FsMailStore(join(dir, 'mail'));
    const raw = Buffer.from('From: ann@example.com\r\nTo: support@example.com\r\nSubject: no id\r\n\r\nhello\r\n');
    const record = await prepareMail(raw, store);
    expect(record.messageId).toBeUndefined();
    const origin = { kind: 'imap' as const, uidvalidity: '7', uid: 42 };
    const q = { connection: redis, prefix };
    const inbound = openQueue(mailInbound, q);
    const deliver = openQueue(jiraDeliver, q);
    await addJob(inbound, mailInbound, { mailboxId: 'support', origin, record, receivedAt: new Date().toISOString() });
    await addJob(deliver, jiraDeliver, { mailboxId: 'support', origin, record });
    // Both finished, as after a delivery.
    const workers = [inbound, deliver].map((queue) => new Worker(queue.name, async () => ({}), { connection: redis, prefix }));
    const waitDone = async () => {
      for (;;) {
        const [a, b] = await Promise.all([inbound.getCompletedCount(), deliver.getCompletedCount()]);
        if (a === 1 && b === 1) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitDone();
    await Promise.all(workers.map((w) => w.close()));

    const result = await reprocessMail({ redis, prefix, mailboxIds: ['support'], site: 'example.atlassian.net', store }, { raw, name: 'm.eml', mailboxId: 'support' });
    expect(result.origin).toEqual(origin);
    expect(result.removed.sort()).toEqual([`jira-deliver/deliver|support|${record.rawRef.sha256}`, 'mail-inbound/support:7:42']);
    expect(await (await inbound.getJob(result.jobId))!.getState()).toBe('waiting');
    await Promise.all([inbound.close(), deliver.close()]);
  });
});
