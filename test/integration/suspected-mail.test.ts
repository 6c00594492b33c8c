// Issue 23, point 3, through the pipeline (resolver, provisioner and deliverer in this process,
// real Redis, the Jira simulator over HTTP, real mail bytes): a person's mail that only looks
// like a bounce or an out-of-office reply becomes an issue, labelled, and creates no account;
// machine mail on strong evidence is still finished silently.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adfToText } from '../../src/deliver/adf.js';
import { startDelivererWorker } from '../helpers/stage-workers.js';
import { silentLogger } from '../../src/core/log.js';
import type { MailInbound } from '../../src/identity/resolver.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { FsMailStore } from '../../src/mail/store.js';
import { rawMail, storedRecord, type RawMailInput } from '../helpers/deliver-testkit.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { FAST_RETRY, startInProcess, testMailbox, type InProcessPipeline } from '../helpers/sim-run.js';

const MX = 'mx.acme.example';
let jira: SeededSim;
let redis: Redis;
let prefix: string;
let store: FsMailStore;
let run: InProcessPipeline | undefined;
let deliverer: Worker | undefined;
const conns: Redis[] = [];
let uid = 1;

beforeAll(async () => {
  jira = await startSeededSim();
  redis = testRedis();
  store = new FsMailStore(mkdtempSync(join(tmpdir(), 'mr-suspect-')));
});
afterAll(async () => {
  await jira.close();
  redis.disconnect();
});
beforeEach(() => {
  jira.reseed();
  prefix = uniquePrefix('suspect');
});
afterEach(async () => {
  await deliverer?.close();
  await run?.stop();
  run = undefined;
  for (const c of conns.splice(0)) c.disconnect();
  await dropPrefix(redis, prefix);
});

async function start() {
  const boxes = [
    testMailbox({
      id: 'support',
      addresses: ['support@acme.example'],
      policy: { autoCreate: 'user', authservIds: [MX], floodLimitPerHour: 1000, resolve: { sender: true, cc: true, max: 100 } },
      deliver: { project: 'SUP' },
    }),
  ];
  const conn = () => {
    const r = testRedis({ forWorker: true });
    conns.push(r);
    return r;
  };
  run = await startInProcess({ redis, workerConnection: conn, prefix, mailboxes: boxes, jira: { url: jira.sim.url, email: jira.site.admin.email, token: jira.site.admin.token }, logger: silentLogger, retry: FAST_RETRY });
  const client = jira.client();
  deliverer = startDelivererWorker(
    { redis, prefix, mailbox: (id) => boxes.find((m) => m.id === id), store, jira: async () => client, retry: FAST_RETRY, lockMs: 5_000, audit: run.pipeline.audit },
    { connection: conn(), logger: silentLogger, concurrency: 4 },
  );
}

/** A genuine mail: the receiving host says DMARC passed for the From's domain. */
const genuine = (domain: string, extra: string[] = []) => [
  ...extra,
  `Authentication-Results: ${MX}; spf=pass smtp.mailfrom=${domain}; dkim=pass header.d=${domain}; dmarc=pass header.from=${domain}`,
];

async function send(mails: RawMailInput[]) {
  const jobs: MailInbound[] = [];
  for (const m of mails) {
    const record = await storedRecord(store, rawMail(m));
    jobs.push({ mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '1', uid: uid++ }, record, receivedAt: new Date().toISOString() });
  }
  await run!.enqueue(jobs);
  await run!.settled({ timeoutMs: 60_000 });
  for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const c = await run!.queues.jiraDeliver.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (!c.waiting && !c.active && !c.delayed && !c.prioritized) return;
  }
  throw new Error('deliveries did not settle');
}

const issueBySummary = (s: string) => jira.sim.state.allIssues().find((i) => String(i.fields.summary).includes(s));
const accounts = (email: string) => jira.sim.state.accountsByEmail(email);

describe('a person\'s mail that only looks like machine mail (issue 23)', () => {
  it('becomes a labelled issue that creates no account; the same sender\'s plain mail would, and a real bounce makes nothing', { timeout: 90_000 }, async () => {
    await start();
    await send([
      { from: 'Priya Raman <priya@shop-customer.test>', cc: ['lee@shop-customer.test'], subject: 'Delivery has failed for order 123', messageId: 's1@shop-customer.test', text: 'The courier failed twice.', headers: genuine('shop-customer.test') },
      { from: 'Dana Walsh <dana@customer-one.test>', subject: 'Out of office: printer on the 3rd floor is broken', messageId: 's2@customer-one.test', text: 'It jams.', headers: genuine('customer-one.test') },
      { from: 'Ben Ode <ben@partner-corp.test>', subject: 'FW: invoice 4411 is wrong', messageId: 's3@partner-corp.test', text: 'Forwarded by my rule.', headers: genuine('partner-corp.test', ['X-MS-Exchange-Inbox-Rules-Loop: ben@partner-corp.test']) },
      { from: 'MAILER-DAEMON <mailer-daemon@mx.customer-two.test>', subject: 'Undelivered Mail Returned to Sender', messageId: 's4@mx.customer-two.test', text: 'This is the mail system.', headers: ['Return-Path: <>'] },
      // A web form's mail, relayed by a sending service that adds List-Unsubscribe to all it sends.
      { from: 'Rosa Diaz <rosa@customer-three.test>', subject: 'Contact form: lamp arrived broken', messageId: 's5@customer-three.test', text: 'Order 5512, the box was crushed.', headers: genuine('customer-three.test', ['List-Unsubscribe: <https://u.sender.test/unsub?id=1>']) },
    ]);

    const bounceLike = issueBySummary('Delivery has failed for order 123');
    expect(bounceLike, 'the customer\'s mail is an issue').toBeDefined();
    expect(bounceLike!.fields.labels).toEqual(['mailroom-suspected-bounce']);
    expect(adfToText(bounceLike!.fields.description as AdfDoc)).toMatch(/may be a delivery failure report .*no account was created/);
    expect(accounts('priya@shop-customer.test')).toEqual([]);
    expect(accounts('lee@shop-customer.test')).toEqual([]);

    const oooLike = issueBySummary('Out of office: printer');
    expect(oooLike!.fields.labels).toEqual(['mailroom-suspected-auto-reply']);
    expect(accounts('dana@customer-one.test')).toEqual([]);

    // A customer's Exchange forwarding rule is no sign of a machine: a person's mail, as usual.
    const forwarded = issueBySummary('FW: invoice 4411');
    expect(forwarded!.fields.labels).toBeUndefined();
    expect(accounts('ben@partner-corp.test')).toHaveLength(1);

    const formMail = issueBySummary('Contact form: lamp arrived broken');
    expect(formMail, 'a mail with List-Unsubscribe alone is an issue, not dropped as list mail').toBeDefined();
    expect(formMail!.fields.labels).toEqual(['mailroom-suspected-list']);
    expect(adfToText(formMail!.fields.description as AdfDoc)).toMatch(/may be list or bulk mail .*no account was created/);
    expect(accounts('rosa@customer-three.test')).toEqual([]);

    expect(issueBySummary('Undelivered Mail Returned to Sender')).toBeUndefined();
    expect(jira.sim.state.allIssues()).toHaveLength(4);
    const trail = await run!.pipeline.audit.read('<s1@shop-customer.test>');
    expect(trail.filter((e) => e.outcome === 'held').map((e) => e.email).sort()).toEqual(['lee@shop-customer.test', 'priya@shop-customer.test']);
  });

  it('is still delivered, without the label, to a project whose create screen lacks Labels', { timeout: 90_000 }, async () => {
    jira.sim.state.project('SUP')!.offCreateScreen = ['labels'];
    await start();
    await send([{ from: 'Tom Becker <tom@customer-two.test>', subject: 'Undeliverable: the parcel you sent', messageId: 's5@customer-two.test', text: 'It came back.', headers: genuine('customer-two.test') }]);
    const issue = issueBySummary('Undeliverable: the parcel you sent');
    expect(issue, 'delivered despite the refused label').toBeDefined();
    expect(issue!.fields.labels).toBeUndefined();
    expect(adfToText(issue!.fields.description as AdfDoc)).toMatch(/may be a delivery failure report/);
  });
});
