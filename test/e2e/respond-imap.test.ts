// The customer hears back (issue 26), end to end: real Dovecot, the Jira simulator over HTTP, a
// real SMTP server. A new customer (no Jira account) gets one acknowledgement with the key,
// threaded to their mail; their answer to it (no key in the subject) becomes a comment on the
// same issue and is not acknowledged nor mailed back; a forged sender (DMARC fail) and a bounce
// get nothing; an agent's public comment reaches the customer once, an internal one never.
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adfToText } from '../../src/deliver/adf.js';
import { ownMailOptions } from '../../src/mail/loop.js';
import { parseMail } from '../../src/mail/parse.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { rawMail } from '../helpers/deliver-testkit.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { respond } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { startReplyLoopRig, type ReplyLoopRig } from '../helpers/reply-loop-rig.js';
import type { SeededSim } from '../helpers/jira-sim.js';
import { uniquePrefix } from '../helpers/redis.js';
import { headersOf, type SmtpSink } from '../integration/notify-smtp-sink.js';

const why = dovecotUnavailable();
if (why) notice(`respond end-to-end test skipped: ${why}`);

const MX = 'mx.example.test';
const pass = `Authentication-Results: ${MX}; spf=pass smtp.mailfrom=newcustomer.example; dmarc=pass header.from=newcustomer.example`;

describe.skipIf(!!why)('Dovecot -> issue -> acknowledgement by SMTP -> reply -> comment', () => {
  let rig: ReplyLoopRig;
  let dovecot: Dovecot;
  let jira: SeededSim;
  let sink: SmtpSink;
  let respondQ: Queue;
  const prefix = uniquePrefix('respond-imap');

  beforeAll(async () => {
    rig = await startReplyLoopRig({ prefix, authservId: MX, respond: {} });
    ({ dovecot, jira, sink, respondQ } = rig);
  }, 60_000);

  afterAll(async () => {
    await rig?.close();
  });

  it('one acknowledgement to the new customer; their answer is a comment; forged and bounced mail get nothing', { timeout: 120_000 }, async () => {
    await dovecot.appendRaw(rawMail({
      headers: [pass],
      from: 'Nora New <nora@newcustomer.example>',
      to: 'support@example.test',
      subject: 'Cannot log in',
      messageId: 'r-1@newcustomer.example',
      text: 'Hi,\nmy login fails since Monday.',
    }));
    const issue = await waitFor('the issue', async () => jira.sim.state.allIssues()[0], 60_000);
    const ack = await waitFor('the acknowledgement', async () => sink.received[0], 60_000);
    expect(ack.to).toEqual(['nora@newcustomer.example']);
    const h = headersOf(ack.raw);
    expect(h.get('subject')).toEqual([`[${issue.key}] Cannot log in`]);
    expect(h.get('in-reply-to')).toEqual(['<r-1@newcustomer.example>']);
    expect(h.get('references')?.[0]).toContain('<r-1@newcustomer.example>');
    expect(h.get('auto-submitted')).toEqual(['auto-replied']);
    expect(h.get('x-mailroom-loop')?.[0]).toContain(`issue=${issue.key}`);
    expect(h.has('precedence')).toBe(false);
    expect(h.get('from')?.[0]).toContain('support@example.test');
    const ackId = h.get('message-id')![0]!;

    // The customer answers the acknowledgement; their client dropped the key from the subject.
    await dovecot.appendRaw(rawMail({
      headers: [pass],
      from: 'Nora New <nora@newcustomer.example>',
      to: 'support@example.test',
      subject: 'Re: Cannot log in',
      messageId: 'r-2@newcustomer.example',
      inReplyTo: ackId.replace(/^<|>$/g, ''),
      references: ['r-1@newcustomer.example', ackId.replace(/^<|>$/g, '')],
      text: 'It is the VPN page, by the way.',
    }));
    await waitFor('the comment', async () => issue.comments.length > 0, 60_000);
    expect(adfToText(issue.comments[0]!.body as AdfDoc)).toContain('It is the VPN page, by the way.');

    // A forged From (the receiving server says DMARC failed) and a bounce.
    await dovecot.appendRaw(rawMail({
      headers: [`Authentication-Results: ${MX}; spf=fail smtp.mailfrom=bank.example; dmarc=fail header.from=bank.example`],
      from: 'The Bank <ceo@bank.example>',
      to: 'support@example.test',
      subject: 'Urgent wire',
      messageId: 'r-3@forger.example',
      text: 'Send money.',
    }));
    await dovecot.appendRaw(
      'From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\nTo: support@example.test\r\nSubject: Undelivered Mail Returned to Sender\r\n' +
        'Message-ID: <r-4@mx.example.test>\r\nDate: Sat, 28 Nov 2026 10:20:00 +0000\r\nMIME-Version: 1.0\r\n' +
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n' +
        '--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.test\r\n\r\nFinal-Recipient: rfc822; nobody@newcustomer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n',
    );
    const audit = createAuditTrail({ redis: rig.redis, prefix });
    await waitFor('the forged mail refused an acknowledgement', async () =>
      (await audit.read('r-3@forger.example')).find((e) => e.step === 'acknowledgement' && e.outcome === 'skipped'), 60_000);
    const imap = await dovecot.client();
    try {
      await waitFor('all four moved out of INBOX', async () => {
        const done = (await imap.status('Processed', { messages: true }).catch(() => undefined)) || undefined;
        return done?.messages === 4;
      }, 60_000);
    } finally {
      await imap.logout().catch(() => imap.close());
    }
    const idle = () =>
      waitFor('the respond queue idle', async () => {
        await jira.sim.state.webhooks.settle();
        const c = await respondQ.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(c).every((n) => n === 0);
      });
    await idle();

    expect(jira.sim.state.allIssues().map((i) => i.fields.summary)).toEqual(['Cannot log in', 'Urgent wire']);
    expect(sink.received).toHaveLength(1);
    const trail = await audit.read('nora@newcustomer.example');
    expect(trail.filter((e) => e.step === 'acknowledgement').map((e) => [e.outcome, e.jira])).toEqual([['ok', issue.key]]);
    const forged = (await audit.read('r-3@forger.example')).find((e) => e.step === 'acknowledgement');
    expect(forged?.detail).toMatch(/failed authentication/);
    // Mailroom's own comment (Nora's answer) came back as a webhook, and was not mailed to her.
    const own = await respondQ.getJob(respond.jobId({ kind: 'comment', issueKey: issue.key, commentId: issue.comments[0]!.id }));
    expect(own?.returnvalue).toMatchObject({ sent: 0, why: expect.stringMatching(/Mailroom's own comment/) });

    // An agent answers in Jira: publicly, then in an internal note.
    const agentToken = jira.sim.state.addToken({ accountId: jira.site.users.alice.accountId });
    const asAgent = { 'content-type': 'application/json', authorization: 'Basic ' + Buffer.from(`alice@acme.example:${agentToken}`).toString('base64') };
    const adf = (t: string) => ({ type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: t }] }] });
    const post = async (body: unknown) => {
      const r = await fetch(`${jira.sim.url}/rest/api/3/issue/${issue.key}/comment`, { method: 'POST', headers: asAgent, body: JSON.stringify(body) });
      expect(r.status).toBe(201);
      return ((await r.json()) as { id: string }).id;
    };
    await post({ body: adf('Please clear your browser cache and try again.') });
    const internalId = await post({ body: adf('Internal: she is on the legacy VPN.'), properties: [{ key: 'sd.public.comment', value: { internal: true } }] });
    await idle();
    const internalJob = await respondQ.getJob(respond.jobId({ kind: 'comment', issueKey: issue.key, commentId: internalId }));
    expect(internalJob?.returnvalue).toMatchObject({ sent: 0, why: expect.stringMatching(/internal note/) });
    expect(sink.received).toHaveLength(2);
    const reply = sink.received[1]!;
    expect(reply.to).toEqual(['nora@newcustomer.example']);
    const rh = headersOf(reply.raw);
    expect(rh.get('subject')).toEqual([`Re: [${issue.key}] Cannot log in`]);
    expect(rh.get('in-reply-to')).toEqual(['<r-1@newcustomer.example>']);
    expect(rh.has('auto-submitted')).toBe(false);
    expect(rh.has('precedence')).toBe(false);
    expect(reply.raw.toString('utf8')).toContain('Please clear your browser cache');
    expect(reply.raw.toString('utf8')).not.toContain('legacy VPN');
    expect(reply.raw.toString('utf8')).not.toContain('my login fails since Monday');

    // Both mails as they left, read back: this install (smtp.from's domain) knows them as its own;
    // another company's Mailroom reads the agent's reply as a person's mail and the
    // acknowledgement as automatic (by its Auto-Submitted), never as its own.
    const read = async (m: { raw: Buffer }, smtpFrom: string) => (await parseMail(m.raw, { sha256: 'a'.repeat(64), size: m.raw.length }, ownMailOptions({ from: smtpFrom }))).classification.kind;
    expect(rh.get('x-mailroom-loop')?.[0]).toContain('domain=example.test');
    expect([await read(ack, 'mailroom@example.test'), await read(reply, 'mailroom@example.test')]).toEqual(['own', 'own']);
    expect([await read(ack, 'desk@vendor.example'), await read(reply, 'desk@vendor.example')]).toEqual(['auto-reply', 'human']);
  });
});
