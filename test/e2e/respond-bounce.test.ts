// A bounce of Mailroom's own mail is told to its issue (issue 26), end to end: real Dovecot, the
// Jira simulator over HTTP, a real SMTP server, the web role's webhook intake. Mailroom
// acknowledges a new customer; a delivery report for that acknowledgement arrives in the
// mailbox; an internal note (restricted to the note role) appears on the issue, and nothing is
// mailed to anyone (not the reporting server, not the customer: the note's own webhook comes
// back and is refused). The same report again adds nothing; more reports stop at 3 notes per
// mail; a report naming a Message-ID Mailroom never sent (or the customer's own) makes none.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Queue, Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/config/load.js';
import { createMetrics } from '../../src/core/metrics.js';
import { silentLogger } from '../../src/core/log.js';
import { adfToText } from '../../src/deliver/adf.js';
import { startDelivererWorker, startResponderWorker } from '../helpers/stage-workers.js';
import type { Poller } from '../../src/imap/poller.js';
import { startPollerWithActions } from '../helpers/poller-run.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { createMailStore } from '../../src/mail/store.js';
import { createMailer, type Mailer } from '../../src/notify/mailer.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { respond } from '../../src/queues/catalog.js';
import { openQueue } from '../../src/queues/queue.js';
import { buildWebServer } from '../../src/web/server.js';
import { notice } from '../helpers/corpus.js';
import { rawMail } from '../helpers/deliver-testkit.js';
import { dovecotUnavailable, pollerTestConfig, startDovecot, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { FAST_RETRY, startInProcess, type InProcessPipeline } from '../helpers/sim-run.js';
import { headersOf, startSmtpSink, type SmtpSink } from '../integration/notify-smtp-sink.js';

const why = dovecotUnavailable();
if (why) notice(`respond bounce end-to-end test skipped: ${why}`);

const MX = 'mx.example.test';
const pass = `Authentication-Results: ${MX}; spf=pass smtp.mailfrom=newcustomer.example; dmarc=pass header.from=newcustomer.example`;

/** A delivery report (RFC 3464) from the customer's server, returning the header of mail `returned`. */
function dsn(id: string, returned: string): string {
  return [
    'From: Mail Delivery System <MAILER-DAEMON@mx.newcustomer.example>',
    'To: support@example.test',
    'Subject: Undelivered Mail Returned to Sender',
    `Message-ID: <${id}>`,
    'Date: Sun, 06 Dec 2026 10:20:00 +0000',
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain',
    '',
    'This is the mail system at host mx.newcustomer.example.',
    '--b',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.newcustomer.example',
    '',
    'Final-Recipient: rfc822; nora@newcustomer.example',
    'Action: failed',
    'Status: 5.2.2',
    'Diagnostic-Code: smtp; 552 5.2.2 <nora@newcustomer.example>: mailbox',
    '  full, quota exceeded',
    '--b',
    'Content-Type: text/rfc822-headers',
    '',
    'From: support@example.test',
    'To: nora@newcustomer.example',
    `Message-ID: ${returned}`,
    '--b--',
    '',
  ].join('\r\n');
}

describe.skipIf(!!why)('Dovecot -> acknowledgement -> its bounce -> an internal note on the issue', () => {
  let dovecot: Dovecot;
  let jira: SeededSim;
  let sink: SmtpSink;
  let storeDir: string;
  let config: Config;
  let poller: Poller;
  let pipeline: InProcessPipeline;
  let deliverer: Worker;
  let responder: Worker;
  let mailer: Mailer;
  let respondQ: Queue;
  let web: FastifyInstance;
  const metrics = createMetrics({ registry: new Registry() });
  const SECRET = 'whsec-respond-bounce-e2e';
  const prefix = uniquePrefix('respond-bounce');
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
    sink = await startSmtpSink();
    storeDir = await mkdtemp(join(tmpdir(), 'mr-respond-bounce-'));
    const { raw, env } = pollerTestConfig(dovecot, {
      storeDir,
      mailbox: {
        addresses: ['support@example.test'],
        after: { action: 'move', folder: 'Processed' },
        policy: { autoCreate: 'none', authservIds: [MX] },
        deliver: { project: 'SUP' },
        respond: { noteRole: 'Service Desk Team' },
      },
    });
    config = parseConfig(
      { ...raw, jira: { site: jira.sim.url }, smtp: { host: '127.0.0.1', port: sink.port, tls: 'none', from: 'mailroom@example.test' } },
      { ...env, MAILROOM_PREFIX: prefix },
    );
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
    const client = jira.client();
    const mailbox = (id: string) => config.mailboxes.find((m) => m.id === id);
    const audit = createAuditTrail({ redis, prefix });
    deliverer = startDelivererWorker({ redis, prefix, mailbox, store, jira: async () => client, retry: FAST_RETRY, audit }, { connection: conn(), logger: silentLogger });
    mailer = createMailer(config.smtp, undefined);
    responder = startResponderWorker(
      { redis, prefix, mailer, mailbox, smtpFrom: config.smtp!.from, site: jira.sim.url, installId: prefix, audit, jira: async () => client, metrics },
      { connection: conn(), logger: silentLogger, retry: FAST_RETRY },
    );
    respondQ = openQueue(respond, { connection: redis, prefix });
    web = await buildWebServer({
      redis,
      prefix,
      logger: silentLogger,
      auth: { mode: 'basic', users: [{ user: 'ops', password: 'ops-password-1', role: 'admin' }] },
      webhook: { secret: SECRET, rules: [], respondComments: true },
    });
    await web.listen({ host: '127.0.0.1', port: 0 });
    jira.sim.state.webhooks.register({ url: `http://127.0.0.1:${(web.server.address() as AddressInfo).port}/webhooks/jira`, secret: SECRET });
  }, 60_000);

  afterAll(async () => {
    await web?.close();
    await responder?.close();
    await deliverer?.close();
    await pipeline?.stop();
    await poller?.stop();
    mailer?.close();
    await respondQ?.close();
    await sink?.close();
    await dovecot?.stop();
    await jira?.close();
    for (const c of conns) c.disconnect();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  it('notes the bounce internally, mails nobody, stops at 3 notes, and ignores reports about mail Mailroom never sent', { timeout: 180_000 }, async () => {
    const audit = createAuditTrail({ redis, prefix });
    await dovecot.appendRaw(rawMail({ headers: [pass], from: 'Nora New <nora@newcustomer.example>', to: 'support@example.test', subject: 'Cannot log in', messageId: 'r-1@newcustomer.example', text: 'My login fails.' }));
    const issue = await waitFor('the issue', async () => jira.sim.state.allIssues()[0], 60_000);
    const ack = await waitFor('the acknowledgement', async () => sink.received[0], 60_000);
    const ackId = headersOf(ack.raw).get('message-id')![0]!;
    expect(ackId).toMatch(/^<mailroom\.r\.[0-9a-f]{32}@example\.test>$/);

    const processed = async (n: number) => {
      const imap = await dovecot.client();
      try {
        await waitFor(`${n} mails finished`, async () => ((await imap.status('Processed', { messages: true }).catch(() => undefined)) || undefined)?.messages === n, 60_000);
      } finally {
        await imap.logout().catch(() => imap.close());
      }
    };
    const idle = () =>
      waitFor('the respond queue idle', async () => {
        await jira.sim.state.webhooks.settle();
        const c = await respondQ.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(c).every((n) => n === 0);
      }, 60_000);
    const notes = () => issue.comments.filter((c) => adfToText(c.body as AdfDoc).startsWith('Mailroom: a mail to the customer bounced'));

    // 1. The report for the acknowledgement: one internal note.
    await dovecot.appendRaw(dsn('dsn-1@mx.newcustomer.example', ackId));
    await waitFor('the note', async () => notes().length === 1, 60_000);
    await processed(2);
    await idle();
    const note = notes()[0]!;
    expect(note.visibility).toEqual({ type: 'role', value: 'Service Desk Team' });
    expect(note.authorId).toBe(jira.site.admin.accountId);
    const text = adfToText(note.body as AdfDoc);
    expect(text).toContain(`The acknowledgement of ${issue.key}, sent to nora@newcustomer.example`);
    expect(text).toContain('- nora@newcustomer.example: failed, status 5.2.2 (permanent): smtp; 552 5.2.2 <nora@newcustomer.example>: mailbox full, quota exceeded');
    expect(text).toContain('mailer-daemon@mx.newcustomer.example');
    expect(text).not.toContain(ackId.slice(1, -1)); // our Message-ID is not shown
    // Public to nobody: Jira says the comment is restricted, and its webhook mailed no one.
    const read = await jira.client().getComment(issue.key, note.id);
    expect(read.restricted).toBe(true);
    const back = await respondQ.getJob(respond.jobId({ kind: 'comment', issueKey: issue.key, commentId: note.id }));
    expect(back?.returnvalue).toMatchObject({ sent: 0 });
    expect(sink.received).toHaveLength(1);
    expect((await audit.read('dsn-1@mx.newcustomer.example')).filter((e) => e.step === 'bounce-noted').map((e) => e.outcome)).toEqual(['ok']);
    expect((await audit.read('nora@newcustomer.example')).some((e) => e.step === 'bounce-noted' && e.jira === issue.key)).toBe(true);
    expect((await metrics.registry.getSingleMetric('mailroom_customer_mails_total')!.get()).values.find((v) => v.labels.outcome === 'bounced')).toMatchObject({ value: 1, labels: { kind: 'acknowledge' } });

    // 2. The same report again (a second copy in the mailbox): no second note.
    await dovecot.appendRaw(dsn('dsn-1@mx.newcustomer.example', ackId));
    await processed(3);
    await idle();
    expect(notes()).toHaveLength(1);

    // 3. Reports Mailroom's mail did not cause: an id it never sent, the customer's own mail's id.
    await dovecot.appendRaw(dsn('dsn-forged-1@attacker.example', '<mailroom.r.00000000000000000000000000000000@example.test>'));
    await dovecot.appendRaw(dsn('dsn-forged-2@attacker.example', '<r-1@newcustomer.example>'));
    await processed(5);
    await idle();
    expect(notes()).toHaveLength(1);

    // 4. Three more reports for the acknowledgement: two more notes, then the cap.
    for (const n of [2, 3, 4]) await dovecot.appendRaw(dsn(`dsn-${n}@mx.newcustomer.example`, ackId));
    await processed(8);
    await idle();
    expect(notes()).toHaveLength(3);
    const capped = (await audit.read('nora@newcustomer.example')).filter((e) => e.step === 'bounce-noted' && e.outcome === 'skipped');
    expect(capped).toHaveLength(1);
    expect(capped[0]!.detail).toMatch(/already has 3 bounce notes/);

    // Nothing was ever mailed but the acknowledgement: no answer to any report, no note mailed.
    expect(sink.received).toHaveLength(1);
  });
});
