// A customer mail the SMTP server refuses for good when the responder hands it over (a 5xx at
// RCPT or at DATA) is, to the agents, a bounce: the customer did not get it. Real parts: Redis and
// the respond worker, the Jira simulator over HTTP, a real SMTP server that refuses. The issue
// gets the same internal note an asynchronous bounce gets, naming the mail, the address and the
// server's answer; nothing else is mailed; the audit trail says so. An agent's comment held back
// by respond.maxPerRecipientPerHour is noted too (once per address and hour), with how to send it.
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/log.js';
import { adfToText } from '../../src/deliver/adf.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { createMailer, type Mailer } from '../../src/notify/mailer.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { respond } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startResponderWorker } from '../helpers/stage-workers.js';
import { addAdmin } from '../../src/jira-sim/seed.js';
import { MESSAGE_PROPERTY } from '../../src/deliver/delivery.js';
import { waitFor } from '../helpers/dovecot.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { FAST_RETRY, testMailbox } from '../helpers/sim-run.js';
import { startSmtpSink, type SmtpSink } from './notify-smtp-sink.js';

const prefix = uniquePrefix('respond-refused');
const redis = testRedis();
let conn: Redis;
let jira: SeededSim;
let sink: SmtpSink;
let mailer: Mailer;
let responder: Worker;
let queue: Queue;

const mailbox = testMailbox({ id: 'support', addresses: ['support@acme.example'], deliver: { project: 'SUP', issueType: 'Task' }, respond: {} });
const tight = testMailbox({ id: 'tight', addresses: ['tight@acme.example'], deliver: { project: 'SUP', issueType: 'Task' }, respond: { maxPerRecipientPerHour: 1 } });
const boxes = new Map([mailbox, tight].map((m) => [m.id, m]));

beforeAll(async () => {
  jira = await startSeededSim();
  sink = await startSmtpSink();
  mailer = createMailer({ host: '127.0.0.1', port: sink.port, tls: 'none', from: 'mailroom@acme.example' } as never, undefined);
  conn = testRedis({ forWorker: true });
  const client = jira.client();
  responder = startResponderWorker(
    { redis, prefix, mailer, mailbox: (id) => boxes.get(id), smtpFrom: 'mailroom@acme.example', site: jira.sim.url, installId: prefix, audit: createAuditTrail({ redis, prefix }), jira: async () => client },
    { connection: conn, logger: silentLogger, retry: FAST_RETRY },
  );
  queue = openQueue(respond, { connection: redis, prefix });
}, 60_000);

afterAll(async () => {
  await responder?.close();
  mailer?.close();
  await queue?.close();
  await sink?.close();
  await jira?.close();
  conn?.disconnect();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('a customer mail that does not go', () => {
  it('refused for good by the SMTP server is noted on the issue like a bounce: internal, naming the mail, the address and the server\'s answer; nothing else is mailed', async () => {
    sink.refuse.set('gone@customer.example', 550);
    const issue = await jira.client().createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'Cannot log in' });
    await addJob(queue, respond, { kind: 'acknowledge', mailboxId: 'support', issueKey: issue.key, to: 'gone@customer.example', summary: 'Cannot log in', subject: 'Cannot log in', references: [], link: false, mail: 'r-1@customer.example' });

    const notes = () => jira.sim.state.issue(issue.key)!.comments;
    const [note] = await waitFor('the note on the issue', async () => (notes().length ? notes() : undefined), 30_000);
    expect(note!.visibility).toEqual({ type: 'role', value: 'Administrators' });
    const text = adfToText(note!.body as AdfDoc);
    expect(text).toMatch(new RegExp(`^Mailroom: a mail to the customer was refused\\. The acknowledgement of ${issue.key}, to gone@customer\\.example, was refused for good at \\S+ by the SMTP server Mailroom sends through\\. Its answer:`));
    expect(text).toContain('- gone@customer.example: failed');
    expect(text).toMatch(/550 No such user here/);
    expect(sink.received).toHaveLength(0);

    // The note is in Jira a moment before the responder writes its audit entry: wait for that.
    const audit = createAuditTrail({ redis, prefix });
    const trail = await waitFor('the audit entry of the note', async () => {
      const t = await audit.read('r-1@customer.example');
      return t.some((e) => e.step === 'bounce-noted') ? t : undefined;
    }, 30_000);
    expect(trail.map((e) => [e.step, e.outcome])).toEqual(expect.arrayContaining([['acknowledgement', 'failed'], ['bounce-noted', 'ok']]));
    expect(notes()).toHaveLength(1);
  });

  it('an agent\'s comment held back by the hourly ceiling is noted on the issue with how to send it, once per address and hour', async () => {
    const a = addAdmin(jira.sim.state, { email: 'agent@acme.example' });
    const agent = jira.client({ email: a.account.email, token: a.token });
    const issue = await jira.client().createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: 'VPN drops' }, {
      properties: [{ key: MESSAGE_PROPERTY, value: { id: 'v-1@customer.example', mailboxId: 'tight', mailOnly: ['vera@customer.example'], complete: true } }],
    });
    const say = (text: string) => agent.addComment(issue.key, { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] } as never);
    const notes = () => jira.sim.state.issue(issue.key)!.comments.filter((c) => c.visibility);
    const run = async (commentId: string) => {
      const job = await addJob(queue, respond, { kind: 'comment', issueKey: issue.key, commentId });
      return waitFor('the comment job', async () => ((await job.getState()) === 'completed' ? (await queue.getJob(job.id!))!.returnvalue : undefined), 30_000);
    };
    expect(await run((await say('First answer.')).id)).toMatchObject({ sent: 1 });
    const second = await say('Second answer: please restart.');
    expect(await run(second.id)).toMatchObject({ skipped: 1 });
    const [note] = await waitFor('the note', async () => (notes().length ? notes() : undefined), 30_000);
    const text = adfToText(note!.body as AdfDoc);
    expect(text).toMatch(new RegExp(`^Mailroom: a mail to the customer was held back\\. Comment ${second.id} mailed from ${issue.key}, to vera@customer\\.example, was not sent`));
    expect(text).toContain(`mailroom respond resend 'respond|comment|${issue.key}|${second.id}' --to vera@customer.example`);
    // A third within the hour: skipped too, and no second note.
    expect(await run((await say('Third answer.')).id)).toMatchObject({ skipped: 1 });
    expect(notes()).toHaveLength(1);
    expect(sink.received.filter((r) => r.to.includes('vera@customer.example'))).toHaveLength(1);
  });
});
