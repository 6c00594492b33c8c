// A bounce of Mailroom's own mail is told to its issue (issue 26), end to end: real Dovecot, the
// Jira simulator over HTTP, a real SMTP server, the web role's webhook intake. Mailroom
// acknowledges a new customer; a delivery report for that acknowledgement arrives in the
// mailbox; an internal note (restricted to the note role) appears on the issue, and nothing is
// mailed to anyone (not the reporting server, not the customer: the note's own webhook comes
// back and is refused). The same report again adds nothing; more reports stop at 3 notes per
// mail; a report naming a Message-ID Mailroom never sent (or the customer's own) makes none.
import type { Queue } from 'bullmq';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/core/metrics.js';
import { adfToText } from '../../src/deliver/adf.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { respond } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { rawMail } from '../helpers/deliver-testkit.js';
import { dovecotUnavailable, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { startReplyLoopRig, type ReplyLoopRig } from '../helpers/reply-loop-rig.js';
import type { SeededSim } from '../helpers/jira-sim.js';
import { uniquePrefix } from '../helpers/redis.js';
import { headersOf, type SmtpSink } from '../integration/notify-smtp-sink.js';

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
  let rig: ReplyLoopRig;
  let dovecot: Dovecot;
  let jira: SeededSim;
  let sink: SmtpSink;
  let respondQ: Queue;
  const metrics = createMetrics({ registry: new Registry() });
  const prefix = uniquePrefix('respond-bounce');

  beforeAll(async () => {
    rig = await startReplyLoopRig({ prefix, authservId: MX, respond: { noteRole: 'Service Desk Team' }, metrics });
    ({ dovecot, jira, sink, respondQ } = rig);
    // The set-up guide's step for notes: the workaround user is in the note role where notes go.
    jira.sim.state.addToRole('SUP', 'Service Desk Team', jira.site.admin.accountId);
  }, 60_000);

  afterAll(async () => {
    await rig?.close();
  });

  it('notes the bounce internally, mails nobody, stops at 3 notes, and ignores reports about mail Mailroom never sent', { timeout: 180_000 }, async () => {
    const audit = createAuditTrail({ redis: rig.redis, prefix });
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
