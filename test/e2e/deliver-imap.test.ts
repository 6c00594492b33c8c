// Mail appended in a real Dovecot goes all the way: poller -> resolver (a new sender gets a
// Jira user) -> deliverer -> an issue in the Jira simulator, a reply becomes its comment, and
// each mail is moved to the processed folder; an auto-reply is moved too, never delivered.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/config/load.js';
import { adfToText } from '../../src/deliver/adf.js';
import { startDelivererWorker } from '../helpers/stage-workers.js';
import { rawMail } from '../helpers/deliver-testkit.js';
import type { Poller } from '../../src/imap/poller.js';
import { startPollerWithActions } from '../helpers/poller-run.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { silentLogger } from '../../src/core/log.js';
import { createMailStore } from '../../src/mail/store.js';
import { FAST_RETRY, startInProcess, type InProcessPipeline } from '../helpers/sim-run.js';
import { mailboxActions } from '../../src/queues/catalog.js';
import { openQueue } from '../../src/queues/queue.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`deliver end-to-end test skipped: ${why}`);

describe.skipIf(!!why)('Dovecot -> Jira issue -> processed folder', () => {
  let dovecot: Dovecot;
  let jira: SeededSim;
  let storeDir: string;
  let config: Config;
  let poller: Poller;
  let pipeline: InProcessPipeline;
  let deliverer: Worker;
  let actionsQ: Queue;
  const prefix = uniquePrefix('deliver-imap');
  const redis = testRedis();
  const conns: Redis[] = [];
  const conn = () => {
    const r = testRedis({ forWorker: true });
    conns.push(r);
    return r;
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    jira = await startSeededSim();
    storeDir = await mkdtemp(join(tmpdir(), 'mr-deliver-imap-'));
    const { raw, env } = pollerTestConfig(dovecot, {
      storeDir,
      mailbox: {
        addresses: ['support@example.test'],
        after: { action: 'move', folder: 'Processed' },
        policy: { autoCreate: 'user', groups: ['jira-software-users'] },
        deliver: { project: 'SUP' },
      },
    });
    config = parseConfig({ ...raw, jira: { site: jira.sim.url } }, { ...env, MAILROOM_PREFIX: prefix });
    const store = createMailStore(config);
    poller = await startPollerWithActions({ config, redis, store, logger: silentLogger });
    pipeline = await startInProcess({
      redis,
      workerConnection: conn,
      prefix,
      mailboxes: config.mailboxes,
      jira: { url: jira.sim.url, email: jira.site.admin.email, token: jira.site.admin.token },
      logger: silentLogger,
      retry: FAST_RETRY,
    });
    actionsQ = openQueue(mailboxActions, { connection: redis, prefix });
    const client = jira.client();
    deliverer = startDelivererWorker(
      { redis, prefix, mailbox: (id) => config.mailboxes.find((m) => m.id === id), store, jira: async () => client, retry: FAST_RETRY },
      { connection: conn(), logger: silentLogger },
    );
  }, 60_000);

  afterAll(async () => {
    await deliverer?.close();
    await pipeline?.stop();
    await poller?.stop();
    await actionsQ?.close();
    await dovecot?.stop();
    await jira?.close();
    for (const c of conns) c.disconnect();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  it('a new mail, its reply and an auto-reply: one issue with one comment, all three moved', { timeout: 90_000 }, async () => {
    const started = Date.now();
    await dovecot.appendRaw(rawMail({
      from: 'Nora New <nora@newcustomer.example>',
      to: 'support@example.test',
      subject: 'Cannot log in',
      messageId: 'e2e-1@newcustomer.example',
      text: 'Hi,\nmy login fails since Monday.',
      attachments: [{ filename: 'error.txt', contentType: 'text/plain', content: Buffer.from('HTTP 403') }],
    }));
    const issue = await waitFor('the issue', async () => jira.sim.state.allIssues()[0], 60_000);
    const createdMs = Date.now() - started;
    await dovecot.appendRaw(rawMail({
      from: 'Nora New <nora@newcustomer.example>',
      to: 'support@example.test',
      subject: `Re: [${issue.key}] Cannot log in`,
      messageId: 'e2e-2@newcustomer.example',
      inReplyTo: 'e2e-1@newcustomer.example',
      text: 'It works again, thanks.\n\nOn Mon, Support wrote:\n> Please try again.',
    }));
    await dovecot.appendRaw(
      'From: Nora New <nora@newcustomer.example>\r\nTo: support@example.test\r\nSubject: Out of office: Cannot log in\r\n' +
        'Message-ID: <e2e-3@newcustomer.example>\r\nAuto-Submitted: auto-replied\r\nDate: Sat, 28 Nov 2026 10:20:00 +0000\r\n\r\nI am away.\r\n',
    );
    await waitFor('the comment', async () => issue.comments.length > 0, 60_000);

    const imap = await dovecot.client();
    try {
      const counts = await waitFor('all three moved out of INBOX', async () => {
        const inbox = (await imap.status('INBOX', { messages: true })) || undefined;
        const done = (await imap.status('Processed', { messages: true }).catch(() => undefined)) || undefined;
        return inbox?.messages === 0 && done?.messages === 3 ? { inbox: inbox.messages, done: done.messages } : undefined;
      }, 60_000).catch(async (e: unknown) => {
        const jobs = await actionsQ.getJobs(['failed', 'waiting', 'delayed', 'active', 'completed']);
        throw new Error(`${String(e)}; actions: ${JSON.stringify(jobs.map((j) => [j.id, j.failedReason, j.returnvalue, j.attemptsMade]))}; inbox ${JSON.stringify(await imap.status('INBOX', { messages: true }))}`);
      });
      expect(counts).toEqual({ inbox: 0, done: 3 });
    } finally {
      await imap.logout().catch(() => imap.close());
    }

    expect(jira.sim.state.allIssues()).toHaveLength(1);
    const nora = jira.sim.state.accountsByEmail('nora@newcustomer.example');
    expect(nora).toHaveLength(1);
    expect((issue.fields.reporter as { accountId: string }).accountId).toBe(nora[0]!.accountId);
    expect(issue.fields.summary).toBe('Cannot log in');
    expect(adfToText(issue.fields.description as AdfDoc)).toBe('Hi,\nmy login fails since Monday.');
    expect(issue.attachments.map((a) => [a.filename, a.bytes.toString()])).toEqual([['error.txt', 'HTTP 403']]);
    expect(issue.comments).toHaveLength(1);
    expect(adfToText(issue.comments[0]!.body as AdfDoc)).toMatch(/^Nora New <nora@newcustomer\.example> wrote by mail on .*:\n\nIt works again, thanks\.$/);
    process.stdout.write(`deliver-imap: append -> issue created in ${createdMs} ms (incl. provisioning a new user)\n`);
  });
});
