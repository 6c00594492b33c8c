// Agents' files on a mailed comment (respond.attachments), with real parts: Redis and the respond
// worker, the Jira simulator over HTTP (attachments uploaded as Jira takes them, downloaded from
// GET attachment/content/{id}?redirect=false), and a real SMTP server. A small file arrives
// attached with its bytes intact; a large one is named, not attached; a body that never ends
// (while Jira's stated size is tiny) is cut at the cap; `links` names files without a URL; `off`
// sends the text alone; a hostile file name cannot add a header.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { simpleParser, type ParsedMail } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MailboxConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/log.js';
import { MESSAGE_PROPERTY } from '../../src/deliver/delivery.js';
import type { JiraClient } from '../../src/jira/client.js';
import { addAdmin } from '../../src/jira-sim/seed.js';
import { createMailer, type Mailer } from '../../src/notify/mailer.js';
import { respond } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startResponderWorker } from '../helpers/stage-workers.js';
import { waitFor } from '../helpers/dovecot.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { FAST_RETRY, testMailbox } from '../helpers/sim-run.js';
import { startSmtpSink, type SmtpSink } from './notify-smtp-sink.js';

const KiB = 1024;
const prefix = uniquePrefix('respond-files');
const redis = testRedis();
let conn: Redis;
let jira: SeededSim;
let sink: SmtpSink;
let mailer: Mailer;
let responder: Worker;
let queue: Queue;
let agent: JiraClient;

const box = (id: string, attachments: Record<string, unknown>) =>
  testMailbox({ id, addresses: [`${id}@acme.example`], deliver: { project: 'SUP', issueType: 'Task' }, respond: { comments: true, attachments } });
const mailboxes = new Map<string, MailboxConfig>([
  ['files', box('files', { mode: 'files', maxBytes: 64 * KiB, maxTotalBytes: 96 * KiB })],
  ['links', box('links', { mode: 'links' })],
  ['off', box('off', { mode: 'off' })],
]);

beforeAll(async () => {
  jira = await startSeededSim();
  sink = await startSmtpSink();
  mailer = createMailer({ host: '127.0.0.1', port: sink.port, tls: 'none', from: 'mailroom@acme.example' } as never, undefined);
  conn = testRedis({ forWorker: true });
  const client = jira.client();
  responder = startResponderWorker(
    { redis, prefix, mailer, mailbox: (id) => mailboxes.get(id), smtpFrom: 'mailroom@acme.example', site: jira.sim.url, installId: prefix, jira: async () => client },
    { connection: conn, logger: silentLogger, retry: FAST_RETRY },
  );
  queue = openQueue(respond, { connection: redis, prefix });
  const a = addAdmin(jira.sim.state, { email: 'agent@acme.example' });
  agent = jira.client({ email: a.account.email, token: a.token });
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

/** The ADF Jira Cloud writes for files in a comment: mediaSingle > media with a Media Services id (a UUID) and the file name as alt. */
const media = (alt: string) => ({ type: 'mediaSingle', attrs: { layout: 'center' }, content: [{ type: 'media', attrs: { id: randomUUID(), type: 'file', collection: '', alt } }] });

/** An issue of `mailboxId` mailed to `to`, with `files` uploaded by the agent, and the agent's public comment showing them. */
async function commentWithFiles(mailboxId: string, to: string, files: { name: string; bytes: Buffer }[]): Promise<{ key: string; commentId: string }> {
  const issue = await jira.client().createIssue({ project: { key: 'SUP' }, issuetype: { name: 'Task' }, summary: `Files for ${to}` }, {
    properties: [{ key: MESSAGE_PROPERTY, value: { id: `${randomUUID()}@customer.example`, mailboxId, mailOnly: [to], complete: true } }],
  });
  for (const f of files) await agent.addAttachment(issue.key, f.name, f.bytes, 'application/octet-stream');
  const c = await agent.addComment(issue.key, {
    type: 'doc',
    version: 1,
    content: [{ type: 'paragraph', content: [{ type: 'text', text: 'Here is what you asked for.' }] }, ...files.map((f) => media(f.name))],
  } as never);
  return { key: issue.key, commentId: c.id };
}

async function mailTo(to: string, key: string, commentId: string): Promise<ParsedMail> {
  await addJob(queue, respond, { kind: 'comment', issueKey: key, commentId });
  const got = await waitFor(`the mail to ${to}`, async () => sink.received.find((r) => r.to.includes(to)), 30_000);
  return simpleParser(got.raw);
}

describe('an agent\'s files on the mailed comment', () => {
  it('files: a small file arrives attached, bytes equal; a large one is named, not attached', async () => {
    const small = randomBytes(3 * KiB);
    const { key, commentId } = await commentWithFiles('files', 'ann@customer.example', [
      { name: 'screenshot.png', bytes: small },
      { name: 'report.zip', bytes: randomBytes(100 * KiB) },
    ]);
    const mail = await mailTo('ann@customer.example', key, commentId);
    expect(mail.attachments.map((a) => a.filename)).toEqual(['screenshot.png']);
    expect(Buffer.compare(mail.attachments[0]!.content, small)).toBe(0);
    expect(mail.text).toContain('Here is what you asked for.');
    expect(mail.text).toContain('Attached: screenshot.png (3 KB)');
    expect(mail.text).toContain('Not attached: report.zip, 100 KB — too large (more than 64 KB)');
  });

  it('files: a body that never ends, while Jira says the file is tiny, is cut at the cap and named', async () => {
    const { key, commentId } = await commentWithFiles('files', 'ben@customer.example', [{ name: 'endless.log', bytes: Buffer.from('tiny') }]);
    const stored = jira.sim.state.issue(key)!.attachments[0]!;
    stored.endless = true;
    // The client itself: the download stops after the cap, not at the end of a body that has none.
    const started = Date.now();
    expect(await jira.client().getAttachmentContent(stored.id, 64 * KiB)).toEqual({ tooLarge: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    const mail = await mailTo('ben@customer.example', key, commentId);
    expect(mail.attachments).toEqual([]);
    expect(mail.text).toContain('Not attached: endless.log — too large (more than 64 KB)');
  });

  it('files: a hostile file name is made safe (no path, no line breaks that could add a header)', async () => {
    const { key, commentId } = await commentWithFiles('files', 'cat@customer.example', [{ name: 'note.txt', bytes: Buffer.from('hello') }]);
    const evil = '../../etc/\u202Egnp.exe\r\nX-Evil: 1.txt';
    jira.sim.state.issue(key)!.attachments[0]!.filename = evil;
    const issue = jira.sim.state.issue(key)!;
    const comment = issue.comments.find((c) => c.id === commentId)!;
    comment.body = { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'See file.' }] }, media(evil)] };
    const mail = await mailTo('cat@customer.example', key, commentId);
    expect(mail.attachments.map((a) => a.filename)).toEqual(['gnp.exeX-Evil: 1.txt']);
    expect(mail.headers.has('x-evil')).toBe(false);
    expect(mail.attachments[0]!.content.toString()).toBe('hello');
  });

  it('links: names and sizes, no URL the customer cannot open, nothing attached', async () => {
    const { key, commentId } = await commentWithFiles('links', 'dan@customer.example', [{ name: 'invoice.pdf', bytes: randomBytes(2 * KiB) }]);
    const mail = await mailTo('dan@customer.example', key, commentId);
    expect(mail.attachments).toEqual([]);
    expect(mail.text).toContain('- invoice.pdf, 2 KB');
    expect(mail.text).not.toMatch(/https?:\/\//);
  });

  it('past the 50 files one mail carries, the rest are counted in the mail, not dropped without a word', async () => {
    const files = Array.from({ length: 53 }, (_, i) => ({ name: `shot-${String(i + 1).padStart(2, '0')}.png`, bytes: randomBytes(16) }));
    const { key, commentId } = await commentWithFiles('links', 'fay@customer.example', files);
    const mail = await mailTo('fay@customer.example', key, commentId);
    expect(mail.text).toContain('- shot-50.png, 16 B');
    expect(mail.text).not.toContain('shot-51.png');
    expect(mail.text).toContain('Not attached: 3 more files — a mail carries the first 50 files of a comment');
  });

  it('off: the comment\'s text alone', async () => {
    const { key, commentId } = await commentWithFiles('off', 'eve@customer.example', [{ name: 'secret-plan.pdf', bytes: randomBytes(KiB) }]);
    const mail = await mailTo('eve@customer.example', key, commentId);
    expect(mail.attachments).toEqual([]);
    expect(mail.text).toContain('Here is what you asked for.');
    expect(mail.text).not.toContain('secret-plan.pdf');
  });
});
