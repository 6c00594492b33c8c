// The deliverer in this process against the Jira simulator over HTTP, real Redis and a
// filesystem mail store: threads become one issue with comments, attachments arrive from the
// raw mail, HTML reads well, and a mail is never delivered twice however it comes back.
// Everything runs twice: with issue properties unindexed (Jira Cloud as an API-token client
// sees it, the simulator's default) and indexed (as if an installed app had declared them).
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adfToText } from '../../src/deliver/adf.js';
import { COMMENTS_PROPERTY, MESSAGE_PROPERTY, type DeliverResult } from '../../src/deliver/deliverer.js';
import { bornKey, createLedger, ledgerKey } from '../../src/ledger/ledger.js';
import { startDelivererWorker } from '../helpers/stage-workers.js';
import { rawMail, storedRecord, type RawMailInput } from '../helpers/deliver-testkit.js';
import type { AdfDoc } from '../../src/jira/types.js';
import type { SimIssue } from '../../src/jira-sim/state.js';
import { silentLogger } from '../../src/core/log.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { FsMailStore } from '../../src/mail/store.js';
import { prepareMail } from '../../src/mail/prepare.js';
import { FAST_RETRY, testMailbox } from '../helpers/sim-run.js';
import { jiraDeliver, mailboxActions, type MailOrigin, type ResolvedPerson } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

// The receiving host's verdict on acme.example mail (src/mail/auth-results.ts).
const MX = 'mx.acme.example';
const UNVERIFIED_NOTE = `Note: the receiving server did not verify the sender (no Authentication-Results from ${MX}); this mail carries their name on the strength of its From address alone.`;
const VERIFIED = [`Authentication-Results: ${MX}; spf=pass smtp.mailfrom=acme.example; dmarc=pass header.from=acme.example`];

let jira: SeededSim;
let redis: Redis;
let prefix: string;
let store: FsMailStore;
let worker: Worker | undefined;
let deliverQ: Queue;
let actionsQ: Queue;
let events: QueueEvents;
const conns: Redis[] = [];
let indexed = false;

const mailboxes = () => [
  // Bob (partner.example) is one of the agents: policy lets his replies join any issue.
  testMailbox({ id: 'support', addresses: ['support@acme.example'], policy: { replyAllowed: ['@partner.example'], authservIds: [MX] }, deliver: { project: 'SUP', issueType: 'Task', maxAttachmentBytes: 2048 } }),
  testMailbox({ id: 'sales', addresses: ['sales@acme.example'], deliver: { project: 'SUP' } }),
  testMailbox({ id: 'helpdesk', addresses: ['help@acme.example'], deliver: { serviceDeskId: '1', requestTypeId: '10', project: 'HD' } }),
  testMailbox({ id: 'raw', deliver: { project: 'SUP', stripQuotedHistory: false } }),
];

beforeAll(async () => {
  jira = await startSeededSim();
  redis = testRedis();
  store = new FsMailStore(mkdtempSync(join(tmpdir(), 'mr-deliver-')));
});
afterAll(async () => {
  await jira.close();
  redis.disconnect();
});
beforeEach(async () => {
  jira.reseed();
  if (indexed) jira.sim.state.indexedProperties = 'all';
  prefix = uniquePrefix('deliver');
  deliverQ = openQueue(jiraDeliver, { connection: redis, prefix });
  actionsQ = openQueue(mailboxActions, { connection: redis, prefix });
  const ev = testRedis({ forWorker: true });
  conns.push(ev);
  events = new QueueEvents(jiraDeliver.name, { connection: ev, prefix });
  await events.waitUntilReady();
  startWorkerNow();
});
afterEach(async () => {
  await worker?.close();
  await events.close();
  await deliverQ.close();
  await actionsQ.close();
  for (const c of conns.splice(0)) c.disconnect();
  await dropPrefix(redis, prefix);
});

function startWorkerNow(): void {
  const byId = new Map(mailboxes().map((m) => [m.id, m]));
  const conn = testRedis({ forWorker: true });
  conns.push(conn);
  const client = jira.client();
  worker = startDelivererWorker(
    { redis, prefix, mailbox: (id) => byId.get(id), store, jira: async () => client, retry: FAST_RETRY, lockMs: 5_000, audit: createAuditTrail({ redis, prefix }), recoverySettleMs: 300, recoveryWindowMs: 1_000 },
    { connection: conn, logger: silentLogger, concurrency: 4 },
  );
}

const alice = () => jira.site.users.alice;
const bob = () => jira.site.users.bob;
let uid = 1;

async function deliver(
  m: RawMailInput,
  o: { mailboxId?: string; people?: ResolvedPerson[]; origin?: MailOrigin } = {},
): Promise<DeliverResult> {
  const record = await storedRecord(store, rawMail(m));
  const people = o.people ?? [{ email: 'alice@acme.example', role: 'sender', status: 'known', accountId: alice().accountId }];
  const job = await addJob(deliverQ, jiraDeliver, {
    mailboxId: o.mailboxId ?? 'support',
    // Arrived now: after the ledger was born, so the normal path (no Jira search) applies.
    origin: o.origin ?? { kind: 'imap', uidvalidity: '7', uid: uid++, internalDate: new Date().toISOString() },
    record,
    people,
  }, FAST_RETRY);
  return (await job.waitUntilFinished(events, 20_000)) as DeliverResult;
}

const issues = (): SimIssue[] => jira.sim.state.allIssues();
const text = (doc: unknown) => adfToText(doc as AdfDoc);

/** Jira calls made by this deliverer, by operation (the simulator's counters). */
function calls(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(jira.sim.counters.snapshot().requests)) {
    const op = k.split(' ')[0]!;
    out[op] = (out[op] ?? 0) + n;
  }
  return out;
}

describe.each([
  { name: 'properties unindexed (Jira Cloud for an API token)', withIndex: false },
  { name: 'properties indexed by an app', withIndex: true },
])('jira-deliver, $name', ({ withIndex }) => {
  beforeAll(() => {
    indexed = withIndex;
  });

  it('a new mail costs one Jira call (the create, carrying its property); with attachments: create, uploads, one property update', { timeout: 20_000 }, async () => {
    const r = await deliver({ from: 'alice@acme.example', subject: 'One call', messageId: 'one@acme.example', text: 'just this' });
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue', issueKey: 'SUP-1' });
    expect(calls()).toEqual({ createIssue: 1 });
    expect(issues()[0]!.properties.get(MESSAGE_PROPERTY)).toMatchObject({ id: 'one@acme.example', complete: true });
    jira.sim.counters.reset();
    await deliver({ from: 'alice@acme.example', subject: 'Two files', messageId: 'two@acme.example', text: 'see files', attachments: [
      { filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('a') },
      { filename: 'b.txt', contentType: 'text/plain', content: Buffer.from('b') },
    ] });
    expect(calls()).toEqual({ createIssue: 1, addAttachment: 2, setIssueProperty: 1 });
    expect(issues()[1]!.properties.get(MESSAGE_PROPERTY)).toMatchObject({ id: 'two@acme.example', complete: true });
  });

  it('a new mail and two replies make one issue with two comments; attachments arrive; quoted history is gone', { timeout: 30_000 }, async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const first = await deliver({
      from: 'Alice Agent <alice@acme.example>',
      subject: 'Printer on floor 3 is down',
      messageId: 'm1@acme.example',
      text: 'Hello,\nthe printer shows E42.\n\nSee https://status.acme.example/printers for details.',
      attachments: [
        { filename: 'photo.png', contentType: 'image/png', content: png },
        { filename: 'dump.bin', contentType: 'application/octet-stream', content: Buffer.alloc(5000, 7) },
      ],
    });
    expect(first).toMatchObject({ outcome: 'delivered', kind: 'issue', issueKey: 'SUP-1', uploaded: 1, oversize: 1 });
    // Reply 1 threads by In-Reply-To (the Message-ID Mailroom delivered).
    const r1 = await deliver({
      from: 'Bob Builder <bob@partner.example>',
      subject: 'Re: Printer on floor 3 is down',
      messageId: 'm2@partner.example',
      inReplyTo: 'm1@acme.example',
      references: ['m1@acme.example'],
      text: 'Did you try turning it off and on?\n\nOn Sat, 28 Nov 2026 at 10:15, Alice Agent <alice@acme.example> wrote:\n> Hello,\n> the printer shows E42.',
    }, { people: [{ email: 'bob@partner.example', role: 'sender', status: 'known', accountId: bob().accountId }] });
    // Reply 2 has no thread headers, only the key in the subject.
    const r2 = await deliver({
      from: 'Alice Agent <alice@acme.example>',
      subject: 'RE: [SUP-1] Printer on floor 3 is down',
      messageId: 'm3@acme.example',
      headers: VERIFIED, // a key in the subject is enough only for a sender the receiving host verified
      text: 'Yes, works now.\n\n-----Original Message-----\nFrom: Bob\nSent: Saturday\nDid you try',
      attachments: [{ filename: 'after.txt', contentType: 'text/plain', content: Buffer.from('all good') }],
    });
    expect(r1).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: 'SUP-1' });
    expect(r2).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: 'SUP-1', uploaded: 1 });

    expect(issues()).toHaveLength(1);
    const issue = issues()[0]!;
    expect(issue.fields.summary).toBe('Printer on floor 3 is down');
    expect((issue.fields.reporter as { accountId: string }).accountId).toBe(alice().accountId);
    const desc = issue.fields.description as AdfDoc;
    expect(text(desc)).toContain('Hello,\nthe printer shows E42.');
    expect(JSON.stringify(desc)).toContain('"href":"https://status.acme.example/printers"');
    // The oversize file is named with its size, not dropped silently.
    expect(text(desc)).toMatch(/Attachment not uploaded: dump\.bin \(4\.9 KB\) is larger than the 2\.0 KB limit/);
    expect(issue.attachments.map((a) => [a.filename, a.mimeType, a.bytes.toString('hex')])).toEqual([
      ['photo.png', 'image/png', png.toString('hex')],
      ['after.txt', 'text/plain', Buffer.from('all good').toString('hex')],
    ]);
    expect(issue.comments).toHaveLength(2);
    const [c1, c2] = issue.comments.map((c) => text(c.body));
    // Bob's reply carries no Authentication-Results from the mailbox's host: it joins by the
    // Message-ID Mailroom delivered, and says that his name on it is his From's word alone.
    expect(c1).toBe(`${UNVERIFIED_NOTE}\n\nBob Builder <bob@partner.example> wrote by mail on 2026-11-28 10:15:00 UTC:\n\nDid you try turning it off and on?`);
    expect(c2).toBe('Alice Agent <alice@acme.example> wrote by mail on 2026-11-28 10:15:00 UTC:\n\nYes, works now.');
    expect(issue.properties.get(MESSAGE_PROPERTY)).toMatchObject({ id: 'm1@acme.example', complete: true });
    expect(issue.properties.get(COMMENTS_PROPERTY)).toEqual({ ids: ['m2@partner.example', 'm3@acme.example'] });
    // Each IMAP mail asks the poller for its 'delivered' action.
    const actions = await actionsQ.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(actions.map((j) => (j.data as { outcome: string; uid: number }).outcome).sort()).toEqual(['delivered', 'delivered', 'delivered']);
  });

  it('a reply that overtakes its thread\'s first mail waits for it, and becomes a comment on its issue', { timeout: 30_000 }, async () => {
    // The resolver marks every mail it starts on as on its way; the first mail is still waiting
    // (say, for its sender's account) when the reply reaches the deliverer.
    await createLedger(redis, prefix).markPending('first@acme.example');
    const replyRecord = await storedRecord(store, rawMail({
      from: 'Alice Agent <alice@acme.example>',
      subject: 'Re: Badge reader at the side door',
      messageId: 'reply@acme.example',
      inReplyTo: 'first@acme.example',
      references: ['first@acme.example'],
      text: 'It also beeps twice now.',
    }));
    const people: ResolvedPerson[] = [{ email: 'alice@acme.example', role: 'sender', status: 'known', accountId: alice().accountId }];
    const replyJob = await addJob(deliverQ, jiraDeliver, { mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '7', uid: uid++ }, record: replyRecord, people }, FAST_RETRY);
    // It parks instead of making an issue of its own.
    for (let i = 0; i < 100 && (await replyJob.getState()) !== 'delayed'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await replyJob.getState()).toBe('delayed');
    expect(issues()).toHaveLength(0);
    const first = await deliver({ from: 'Alice Agent <alice@acme.example>', subject: 'Badge reader at the side door', messageId: 'first@acme.example', text: 'It does not read my badge.' });
    expect(first).toMatchObject({ kind: 'issue', issueKey: 'SUP-1' });
    expect(await replyJob.waitUntilFinished(events, 20_000)).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: 'SUP-1' });
    expect(issues()).toHaveLength(1);
    expect(issues()[0]!.comments).toHaveLength(1);
  });

  it('an HTML-only mail gets a readable description with links; no sender account: the token reports and the sender is named', { timeout: 20_000 }, async () => {
    const r = await deliver({
      from: '=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@customer-two.test>',
      subject: '',
      messageId: 'html-1@customer-two.test',
      html: '<html><head><style>p { color: red }</style></head><body><p>Hallo,</p><p>the invoice for <b>October</b> is missing from <a href="https://portal.example/invoices">the portal</a>.</p><p>J&uuml;rgen</p></body></html>',
    }, { people: [{ email: 'juergen@customer-two.test', role: 'sender', status: 'held', reason: 'flood' }] });
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    const issue = issues()[0]!;
    expect(issue.fields.summary).toBe('(no subject) mail from Jürgen Müller');
    expect((issue.fields.reporter as { accountId: string }).accountId).toBe(jira.site.admin.accountId);
    expect(text(issue.fields.description)).toBe(
      `${UNVERIFIED_NOTE}\n\nFrom Jürgen Müller <juergen@customer-two.test> (no Jira account):\n\nHallo,\n\nthe invoice for October is missing from the portal <https://portal.example/invoices>.\n\nJürgen`,
    );
    expect(JSON.stringify(issue.fields.description)).not.toMatch(/color|<p>|<\/?b>/);
  });

  it('a JSM mailbox raises a request on behalf of the sender with the others as participants', { timeout: 20_000 }, async () => {
    const carol = jira.site.users.customer;
    const r = await deliver({ from: 'Carol <carol@customer.example>', subject: 'VPN drops', messageId: 'jsm-1@customer.example', text: 'Every hour.\n> quoted' }, {
      mailboxId: 'helpdesk',
      people: [
        { email: 'carol@customer.example', role: 'sender', status: 'known', accountId: carol.accountId },
        { email: 'bob@partner.example', role: 'cc', status: 'known', accountId: bob().accountId },
      ],
    });
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'request', issueKey: 'HD-1' });
    const issue = issues()[0]!;
    expect(issue.serviceDeskId).toBe('1');
    expect((issue.fields.reporter as { accountId: string }).accountId).toBe(carol.accountId);
    expect(issue.fields.requestParticipants).toEqual([bob().accountId]);
    expect(issue.fields.description).toBe('Every hour.\n> quoted'); // a new request keeps its whole text, as a new issue does
    expect(issue.properties.get(MESSAGE_PROPERTY)).toMatchObject({ id: 'jsm-1@customer.example', complete: true });
    // JSM takes no properties at creation: create, then the property.
    expect(calls()).toEqual({ createCustomerRequest: 1, setIssueProperty: 1 });
  });

  it('a JSM create whose answer is lost is found again by project, reporter and summary, not raised twice', { timeout: 30_000 }, async () => {
    const carol = jira.site.users.customer;
    jira.sim.faults.loseReply(1, 'createCustomerRequest');
    const r = await deliver({ from: 'Carol <carol@customer.example>', subject: 'VPN lost', messageId: 'jsm-lost@customer.example', text: 'again' }, {
      mailboxId: 'helpdesk',
      people: [{ email: 'carol@customer.example', role: 'sender', status: 'known', accountId: carol.accountId }],
    });
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'request', issueKey: 'HD-1' });
    expect(jira.sim.counters.count('createCustomerRequest')).toBe(1);
    expect(issues()).toHaveLength(1);
    expect(issues()[0]!.properties.get(MESSAGE_PROPERTY)).toMatchObject({ id: 'jsm-lost@customer.example', complete: true });
    // The audit trail says where the mail went.
    const trail = await createAuditTrail({ redis, prefix }).read('jsm-lost@customer.example');
    expect(trail.map((e) => [e.step, e.outcome, e.jira])).toEqual([['delivered', 'ok', 'request HD-1']]);
  });

  it('the same mail twice (two mailboxes at once, then after the ledger is wiped) makes one issue', { timeout: 30_000 }, async () => {
    const m: RawMailInput = { from: 'alice@acme.example', subject: 'Twice', messageId: 'dup-1@acme.example', text: 'once please', attachments: [{ filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('a') }] };
    const [a, b] = await Promise.all([deliver(m, { mailboxId: 'support' }), deliver(m, { mailboxId: 'sales' })]);
    expect([a.outcome, b.outcome].sort()).toEqual(['delivered', 'duplicate']);
    expect(issues()).toHaveLength(1);
    expect(issues()[0]!.attachments).toHaveLength(1);

    // Redis is wiped (ledger, its birth stamp, the jobs); the poller reads the mail again,
    // which reached the mailbox before the new ledger was born.
    await redis.del(ledgerKey(prefix, 'dup-1@acme.example'), bornKey(prefix));
    await deliverQ.obliterate({ force: true });
    const searches = jira.sim.counters.count('searchAndReconsileIssuesUsingJqlPost');
    const again = await deliver(m, { mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '7', uid: 555, internalDate: new Date(Date.now() - 60_000).toISOString() } });
    expect(jira.sim.counters.count('searchAndReconsileIssuesUsingJqlPost')).toBe(searches + 1);
    expect(again).toMatchObject({ outcome: 'duplicate', issueKey: 'SUP-1' });
    expect(issues()).toHaveLength(1);
    expect(issues()[0]!.attachments).toHaveLength(1);
    expect(jira.sim.counters.count('createIssue')).toBe(1);
  });

  it('a create whose answer is lost (dropped, or a 5xx after the write) is found by a site-safe search and its property, not made again', { timeout: 30_000 }, async () => {
    jira.sim.faults.failAfterWrite(1, 'createIssue', 502);
    const r0 = await deliver({ from: 'alice@acme.example', subject: 'Failed answer', messageId: 'lost-0@acme.example', text: 'hi' });
    expect(r0).toMatchObject({ outcome: 'delivered', issueKey: 'SUP-1' });
    expect(issues()).toHaveLength(1);
    jira.sim.counters.reset();
    jira.sim.faults.loseReply(1, 'createIssue');
    const r = await deliver({ from: 'alice@acme.example', subject: 'Lost answer', messageId: 'lost-1@acme.example', text: 'hi', attachments: [{ filename: 'x.txt', contentType: 'text/plain', content: Buffer.from('x') }] });
    expect(r).toMatchObject({ outcome: 'delivered', issueKey: 'SUP-2', uploaded: 1 });
    expect(issues()).toHaveLength(2);
    expect(issues()[1]!.attachments).toHaveLength(1);
    expect(issues()[1]!.properties.get(MESSAGE_PROPERTY)).toMatchObject({ complete: true });
    // Found by JQL on ordinary fields (a property clause would be a 400 on Jira Cloud), confirmed by GET.
    expect(calls()).toMatchObject({ createIssue: 1, searchAndReconsileIssuesUsingJqlPost: 1, getIssueProperty: 1 });
  });

  it('a reply comment is not added twice after the ledger is lost (issue property)', { timeout: 30_000 }, async () => {
    await deliver({ from: 'alice@acme.example', subject: 'Base', messageId: 'base@acme.example', text: 'base' });
    const reply: RawMailInput = { from: 'alice@acme.example', subject: 'Re: SUP-1', messageId: 'rep@acme.example', headers: VERIFIED, text: 'more' };
    await deliver(reply);
    await redis.del(ledgerKey(prefix, 'rep@acme.example'));
    await deliverQ.obliterate({ force: true });
    const again = await deliver(reply);
    expect(again).toMatchObject({ outcome: 'duplicate', kind: 'comment' });
    expect(issues()[0]!.comments).toHaveLength(1);
  });

  it('replies to one issue delivered at once each keep their record in the issue property (none written over)', { timeout: 30_000 }, async () => {
    await deliver({ from: 'alice@acme.example', subject: 'Base', messageId: 'busy@acme.example', text: 'base' });
    const ids = Array.from({ length: 6 }, (_, i) => `busy-r${i}@acme.example`);
    const results = await Promise.all(ids.map((messageId, i) => deliver({ from: 'alice@acme.example', subject: 'Re: [SUP-1] Base', messageId, headers: VERIFIED, text: `reply ${i}` })));
    expect(results.every((r) => r.outcome === 'delivered' && r.kind === 'comment')).toBe(true);
    expect(issues()[0]!.comments).toHaveLength(6);
    // Read, then written: without turns, concurrent replies wrote over each other's lists.
    expect(((issues()[0]!.properties.get(COMMENTS_PROPERTY) as { ids: string[] }).ids).sort()).toEqual([...ids].sort());
  });

  it('a Message-ID with colons (urn:uuid) is queued and delivered, and known by its real id', { timeout: 20_000 }, async () => {
    const r = await deliver({ from: 'alice@acme.example', subject: 'Colons', messageId: 'urn:uuid:6e8bc430-9c3a-11d9:1@acme.example', text: 'x' });
    expect(r).toMatchObject({ outcome: 'delivered', issueKey: 'SUP-1' });
    expect(issues()[0]!.properties.get(MESSAGE_PROPERTY)).toMatchObject({ id: 'urn:uuid:6e8bc430-9c3a-11d9:1@acme.example' });
  });

  it('a key in the subject that does not exist, or a quote kept by config, makes a new issue as is', { timeout: 20_000 }, async () => {
    const r = await deliver({ from: 'alice@acme.example', subject: 'About SUP-99', messageId: 'k1@acme.example', text: 'New\n> old' }, { mailboxId: 'raw' });
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue', issueKey: 'SUP-1' });
    expect(text(issues()[0]!.fields.description)).toBe('New\n> old');
  });

  it('a new issue keeps the whole text by default: an Outlook forward and a quote are the customer\'s content', { timeout: 20_000 }, async () => {
    // Outlook forwards start like its replies' quoted history ("From: … Sent: …"): cut, the issue
    // read "See the invoice below." and nothing below. Comments still lose their quoted history.
    const outlook = 'See the invoice below.\n\n________________________________\nFrom: Billing <billing@vendor.example>\nSent: Monday, 30 November 2026 10:00\nTo: Ana\nSubject: Invoice 123\n\nAmount due: 1,200 EUR\n> as agreed';
    const r = await deliver({ from: 'alice@acme.example', subject: 'FW: Invoice 123', messageId: 'fw1@acme.example', text: outlook });
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue', issueKey: 'SUP-1' });
    expect(text(issues()[0]!.fields.description)).toContain('Amount due: 1,200 EUR\n> as agreed');
  });

  it('a forward into an issue keeps what it forwards: an Outlook "From: … Sent:" block under FW: is content, under RE: history', { timeout: 30_000 }, async () => {
    await deliver({ from: 'alice@acme.example', subject: 'Invoice dispute', messageId: 'inv1@acme.example', text: 'We were billed twice.' });
    const block = '________________________________\nFrom: Billing <billing@vendor.example>\nSent: Monday, 30 November 2026 10:00\nTo: Alice\nSubject: Invoice 124\n\nAmount due: 1,200 EUR';
    const fw = await deliver({ from: 'alice@acme.example', subject: 'FW: Invoice 124', messageId: 'inv2@acme.example', inReplyTo: 'inv1@acme.example', text: `Here is the second one.\n\n${block}` });
    const re = await deliver({ from: 'alice@acme.example', subject: 'RE: Invoice dispute', messageId: 'inv3@acme.example', inReplyTo: 'inv1@acme.example', text: `Any news?\n\n${block}` });
    expect(fw).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: 'SUP-1' });
    expect(re).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: 'SUP-1' });
    const [c1, c2] = issues()[0]!.comments.map((c) => text(c.body));
    expect(c1).toContain('Here is the second one.');
    expect(c1).toContain('Amount due: 1,200 EUR');
    expect(c2).toContain('Any news?');
    expect(c2).not.toContain('Amount due');
  });

  it('delivers the text and attachments the intake kept beside the mail, without parsing the raw mail again', { timeout: 20_000 }, async () => {
    const raw = rawMail({ from: 'alice@acme.example', subject: 'Kept content', messageId: 'kept@acme.example', html: '<p>See <a href="https://x.example/f">the form</a></p>', attachments: [{ filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('a') }] });
    const record = await prepareMail(raw, store);
    // Only the kept content can be read now: the raw mail is gone.
    await rm(store.pathOf(record.rawRef.sha256));
    const job = await addJob(deliverQ, jiraDeliver, {
      mailboxId: 'support',
      origin: { kind: 'imap', uidvalidity: '7', uid: uid++, internalDate: new Date().toISOString() },
      record,
      people: [{ email: 'alice@acme.example', role: 'sender', status: 'known', accountId: alice().accountId }],
    }, FAST_RETRY);
    expect(await job.waitUntilFinished(events, 20_000)).toMatchObject({ outcome: 'delivered', kind: 'issue', uploaded: 1 });
    expect(text(issues()[0]!.fields.description)).toContain('See the form <https://x.example/f>');
  });

  it('a mail without Message-ID: its delivery joins the trail under its inbound job id, as the resolver keeps it', { timeout: 20_000 }, async () => {
    const record = await storedRecord(store, rawMail({ from: 'alice@acme.example', subject: 'No id', messageId: 'gone@acme.example', text: 'x' }));
    delete record.messageId;
    const job = await addJob(deliverQ, jiraDeliver, {
      mailboxId: 'support',
      origin: { kind: 'imap', uidvalidity: '7', uid: 4242 },
      record,
      people: [{ email: 'alice@acme.example', role: 'sender', status: 'known', accountId: alice().accountId }],
    }, FAST_RETRY);
    expect(await job.waitUntilFinished(events, 10_000)).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    const trail = await createAuditTrail({ redis, prefix }).read('support:7:4242');
    expect(trail.map((e) => [e.step, e.outcome])).toEqual([['delivered', 'ok']]);
  });

  it('classified mail in jira-deliver is neither delivered nor acted on (the resolver owns its action)', { timeout: 20_000 }, async () => {
    const record = await storedRecord(store, rawMail({ from: 'alice@acme.example', subject: 'Out of office', messageId: 'ooo@acme.example', text: 'away' }));
    record.classification = { kind: 'auto-reply', reason: 'Auto-Submitted: auto-replied' };
    const job = await addJob(deliverQ, jiraDeliver, { mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '7', uid: 999 }, record }, FAST_RETRY);
    expect(await job.waitUntilFinished(events, 10_000)).toEqual({ outcome: 'classified', kind: 'auto-reply' });
    expect(issues()).toHaveLength(0);
    expect(await actionsQ.count()).toBe(0);
  });

  it('Jira 5xx and 429 on the way are retried without a second issue', { timeout: 30_000 }, async () => {
    jira.sim.faults.set({ errorRate: 0.3, errorOperations: ['createIssue', 'addAttachment', 'setIssueProperty', 'searchAndReconsileIssuesUsingJqlPost'] });
    jira.sim.faults.rateLimit({ count: 1, retryAfterSec: 1, operation: 'createIssue' });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        deliver({ from: 'alice@acme.example', subject: `Fault ${i}`, messageId: `f${i}@acme.example`, text: 'x', attachments: [{ filename: 'f.txt', contentType: 'text/plain', content: Buffer.from(String(i)) }] }),
      ),
    );
    expect(results.every((r) => r.outcome === 'delivered')).toBe(true);
    expect(issues()).toHaveLength(8);
    expect(new Set(issues().map((i) => (i.properties.get(MESSAGE_PROPERTY) as { id: string }).id)).size).toBe(8);
    expect(issues().every((i) => i.attachments.length === 1)).toBe(true);
  });
});
