// Issue #18's attacks, each reproduced through the pipeline (resolver, provisioner and
// deliverer workers in this process, real Redis, the Jira simulator over HTTP, real mail bytes
// in a filesystem store) and shown to fail.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adfToText } from '../../src/deliver/adf.js';
import { startDelivererWorker } from '../helpers/stage-workers.js';
import { rawMail, storedRecord, type RawMailInput } from '../helpers/deliver-testkit.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { createLogger, silentLogger, type Logger } from '../../src/core/log.js';
import { FsMailStore } from '../../src/mail/store.js';
import { ceilingCheck, ceilingSource } from '../../src/ops/account-ceiling-health.js';
import { createMetrics } from '../../src/core/metrics.js';
import { ceilingStatus } from '../../src/identity/account-ceiling.js';
import { FAST_RETRY, startInProcess, testMailbox, type InProcessPipeline } from '../helpers/sim-run.js';
import type { MailInbound } from '../../src/identity/resolver.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const MX = 'mx.acme.example';
let jira: SeededSim;
let redis: Redis;
let prefix: string;
let store: FsMailStore;
let run: InProcessPipeline | undefined;
let deliverer: Worker | undefined;
const conns: Redis[] = [];
let uid = 1;

const mailboxes = (policy: Record<string, unknown> = {}) => [
  testMailbox({
    id: 'support',
    addresses: ['support@acme.example'],
    policy: { autoCreate: 'user', authservIds: [MX], deniedDomains: ['example.org'], floodLimitPerHour: 1000, resolve: { sender: true, cc: true, max: 100 }, ...policy },
    deliver: { project: 'SUP' },
  }),
  testMailbox({ id: 'hr', addresses: ['hr@acme.example'], policy: { autoCreate: 'user', authservIds: [MX] }, deliver: { project: 'HR' } }),
  // Issue #23: the default policy (no authservIds) on the providers people use, and on a host Mailroom cannot read.
  ...(['m365', 'gmail', 'plain'] as const).map((id) =>
    testMailbox({
      id,
      addresses: [`${id}@acme.example`],
      imap: {
        host: { m365: 'outlook.office365.com', gmail: 'imap.gmail.com', plain: 'mail.acme.example' }[id],
        user: `${id}@acme.example`,
        // Exchange Online takes no IMAP password (the schema refuses one there).
        ...(id === 'm365' ? { auth: { provider: 'microsoft', tenantId: 'acme.example', clientId: 'unused', clientSecretEnv: 'UNUSED_SECRET' } } : { passwordEnv: 'UNUSED_PASSWORD' }),
      },
      policy: { autoCreate: 'user', resolve: { sender: true, cc: true, max: 100 }, ...policy },
      deliver: { project: 'SUP' },
    }),
  ),
];

beforeAll(async () => {
  jira = await startSeededSim();
  redis = testRedis();
  store = new FsMailStore(mkdtempSync(join(tmpdir(), 'mr-trust-')));
});
afterAll(async () => {
  await jira.close();
  redis.disconnect();
});
beforeEach(() => {
  jira.reseed();
  prefix = uniquePrefix('trust');
});
afterEach(async () => {
  await deliverer?.close();
  await run?.stop();
  run = undefined;
  for (const c of conns.splice(0)) c.disconnect();
  await dropPrefix(redis, prefix);
});

async function start(policy: Record<string, unknown> = {}, logger: Logger = silentLogger) {
  const boxes = mailboxes(policy);
  const conn = () => {
    const r = testRedis({ forWorker: true });
    conns.push(r);
    return r;
  };
  run = await startInProcess({ redis, workerConnection: conn, prefix, mailboxes: boxes, jira: { url: jira.sim.url, email: jira.site.admin.email, token: jira.site.admin.token }, logger, retry: FAST_RETRY });
  const byId = new Map(boxes.map((m) => [m.id, m]));
  const client = jira.client();
  deliverer = startDelivererWorker(
    { redis, prefix, mailbox: (id) => byId.get(id), store, jira: async () => client, retry: FAST_RETRY, lockMs: 5_000, audit: run.pipeline.audit },
    { connection: conn(), logger: silentLogger, concurrency: 4 },
  );
  return run;
}

/** Real bytes, stored and parsed, enqueued as the poller would; resolves when all is settled. */
async function send(mails: Array<RawMailInput & { mailboxId?: string; uid?: number }>) {
  const jobs: MailInbound[] = [];
  for (const m of mails) {
    const record = await storedRecord(store, rawMail(m));
    jobs.push({ mailboxId: m.mailboxId ?? 'support', origin: { kind: 'imap', uidvalidity: '1', uid: m.uid ?? uid++ }, record, receivedAt: new Date().toISOString() });
  }
  await run!.enqueue(jobs);
  await settle();
}

async function settle() {
  await run!.settled({ timeoutMs: 60_000 });
  for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const c = await run!.queues.jiraDeliver.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (!c.waiting && !c.active && !c.delayed && !c.prioritized) {
      const again = await run!.queues.mailInbound.getJobCounts('waiting', 'active', 'delayed');
      if (!again.waiting && !again.active && !again.delayed) return;
    }
  }
  throw new Error('deliveries did not settle');
}

const issues = () => jira.sim.state.allIssues();
const issue = (key: string) => issues().find((i) => i.key === key)!;
const desc = (key: string) => adfToText(issue(key).fields.description as AdfDoc);
const accounts = (email: string) => jira.sim.state.accountsByEmail(email);
const audit = (id: string) => run!.pipeline.audit.read(id);
const dmarcFail = `Authentication-Results: ${MX}; spf=softfail smtp.mailfrom=partner.example; dkim=none; dmarc=fail (p=reject) header.from=partner.example`;
/** Our receiving host's pass for a From domain: the genuine sender of issue #23's default policy. */
const passFor = (domain: string) => [`Authentication-Results: ${MX}; spf=pass smtp.mailfrom=${domain}; dkim=pass header.d=${domain}; dmarc=pass (p=reject) header.from=${domain}`];

describe('the trust boundary (#18)', () => {
  it('1. a stranger cannot comment on an issue by subject key or a copied In-Reply-To; the reporter can', { timeout: 90_000 }, async () => {
    await start();
    await send([{ from: 'Alice Agent <alice@acme.example>', subject: 'VPN broken', messageId: 'a1@acme.example', headers: passFor('acme.example'), text: 'my secret VPN details' }]);
    expect(issues().map((i) => i.key)).toEqual(['SUP-1']);
    await send([
      { from: 'Alice Agent <eve@evil.example>', subject: 'Re: SUP-1 update', messageId: 'e1@evil.example', headers: passFor('evil.example'), text: 'please send me the password' },
      { from: 'Alice Agent <eve@evil.example>', subject: 'fyi', messageId: 'e2@evil.example', headers: passFor('evil.example'), inReplyTo: 'a1@acme.example', references: ['a1@acme.example'], text: 'reply to everyone' },
    ]);
    expect(issue('SUP-1').comments).toHaveLength(0);
    const made = issues().filter((i) => i.key !== 'SUP-1');
    expect(made).toHaveLength(2);
    for (const i of made) expect(desc(i.key)).toMatch(/claims to answer SUP-1; it was not added there because eve@evil\.example is not the reporter/);
    expect((await audit('e1@evil.example')).some((e) => e.step === 'reply-refused' && e.jira === 'SUP-1')).toBe(true);
    // A thread of another mailbox and project is not this mailbox's to join, even for its reporter.
    jira.sim.state.addProject({ key: 'HR', name: 'Human resources' });
    await send([{ from: 'alice@acme.example', subject: 'Salary', messageId: 'h1@acme.example', text: 'hr case', mailboxId: 'hr' }]);
    await send([{ from: 'alice@acme.example', subject: 'Re: x', messageId: 'a3@acme.example', inReplyTo: 'h1@acme.example', text: 'cross-mailbox' }]);
    expect(issue('HR-1').comments).toHaveLength(0);
    // The reporter's own reply joins.
    await send([{ from: 'alice@acme.example', subject: 'Re: [SUP-1] VPN broken', messageId: 'a2@acme.example', headers: passFor('acme.example'), text: 'works now' }]);
    expect(issue('SUP-1').comments).toHaveLength(1);
    // Bob has an account but no part in SUP-1: refused; once he watches it (Jira's watcher API), he joins.
    await send([{ from: 'bob@partner.example', subject: 'Re: [SUP-1] VPN broken', messageId: 'b1@partner.example', headers: passFor('partner.example'), text: 'me too' }]);
    expect(issue('SUP-1').comments).toHaveLength(1);
    const { site, sim } = jira;
    const watch = await fetch(`${sim.url}/rest/api/3/issue/SUP-1/watchers`, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`${site.admin.email}:${site.admin.token}`).toString('base64'), 'content-type': 'application/json' },
      body: JSON.stringify(site.users.bob.accountId),
    });
    expect(watch.status).toBe(204);
    await send([{ from: 'bob@partner.example', subject: 'Re: [SUP-1] VPN broken', messageId: 'b2@partner.example', headers: passFor('partner.example'), text: 'me too, still' }]);
    expect(issue('SUP-1').comments).toHaveLength(2);
  });

  it('2. a From that fails DMARC at our receiving host is never created nor the reporter; a forged header of another host is ignored', { timeout: 90_000 }, async () => {
    await start();
    const bob = jira.site.users.bob;
    await send([
      { from: 'Bob Builder <bob@partner.example>', subject: 'Pay this invoice', messageId: 's1@partner.example', headers: [dmarcFail], text: 'wire money' },
      { from: 'newbie@partner.example', subject: 'Hi', messageId: 's2@partner.example', headers: [dmarcFail, `Authentication-Results: mx.partner.example; dmarc=pass`], text: 'hello' },
      // The sender wrote a "pass" for a host we do not trust: it counts for nothing, the mail is ordinary.
      { from: 'fresh@partner.example', subject: 'Hello', messageId: 's3@partner.example', headers: [`Authentication-Results: mx.partner.example; dmarc=pass`], text: 'hello' },
    ]);
    const byMail = (id: string) => issues().find((i) => (i.properties.get('mailroom.message') as { id?: string } | undefined)?.id === id)!;
    const spoofed = byMail('s1@partner.example');
    expect((spoofed.fields.reporter as { accountId: string }).accountId).not.toBe(bob.accountId);
    expect(adfToText(spoofed.fields.description as AdfDoc)).toMatch(/^Warning: the sender could not be verified \(mx\.acme\.example: .*dmarc=fail/);
    expect(accounts('newbie@partner.example')).toHaveLength(0);
    expect(accounts('fresh@partner.example')).toHaveLength(1);
    expect((await audit('s2@partner.example')).some((e) => e.step === 'sender-auth' && e.outcome === 'failed')).toBe(true);
  });

  it('2b. with onAuthFail: hold, a forged From is held in the failed set with the reason', { timeout: 90_000 }, async () => {
    await start({ onAuthFail: 'hold' });
    await send([{ from: 'bob@partner.example', subject: 'Pay', messageId: 'h1@partner.example', headers: [dmarcFail], text: 'x' }]);
    expect(issues()).toHaveLength(0);
    const failed = await run!.queues.mailInbound.getFailed();
    expect(failed.map((j) => j.failedReason)).toEqual([expect.stringMatching(/^held: the receiving server says the sender bob@partner\.example is forged/)]);
  });

  it('3. a second mail with an earlier Message-ID is delivered; a byte-identical copy is audited as a duplicate', { timeout: 90_000 }, async () => {
    await start();
    const first: RawMailInput = { from: 'alice@acme.example', subject: 'Original', messageId: 'same@acme.example', text: 'first' };
    await send([first]);
    await send([{ from: 'alice@acme.example', subject: 'Different', messageId: 'same@acme.example', text: 'second, other content' }]);
    expect(issues().map((i) => i.fields.summary).sort()).toEqual(['Different', 'Original']);
    await send([first]); // the same bytes at another UID
    expect(issues()).toHaveLength(2);
    const trail = await audit('same@acme.example');
    expect(trail.some((e) => e.step === 'same-message-id')).toBe(true);
    expect(trail.some((e) => e.outcome === 'duplicate' && /byte-identical/.test(e.detail ?? ''))).toBe(true);
  });

  it('4. new accounts have ceilings per mail, per sender and per install; a held mail creates no one', { timeout: 90_000 }, async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
    await start({ maxNewAccountsPerMail: 3, maxNewAccountsPerSenderPerHour: 5, maxNewAccountsPerHour: 7, floodLimitPerHour: 2 }, logger);
    const cc = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `cc${i}.${tag}@customer.example`);
    await send([{ from: 'mallory@customer.example', subject: 'one', messageId: 'm1@customer.example', headers: passFor('customer.example'), cc: cc(20, 'a'), text: 'x' }]);
    const made = () => [...jira.sim.state.accounts.values()].filter((a) => /@customer\.example$/.test(a.email ?? '') && a.email !== 'carol@customer.example').length;
    expect(made()).toBe(3); // the sender and two Cc: the per-mail ceiling
    await send([{ from: 'mallory@customer.example', subject: 'two', messageId: 'm2@customer.example', headers: passFor('customer.example'), cc: cc(20, 'b'), text: 'x' }]);
    expect(made()).toBe(5); // the sender's ceiling for the hour
    // Mail 3 from mallory: over the flood limit, so held; it creates no one at all.
    await send([{ from: 'mallory@customer.example', subject: 'three', messageId: 'm3@customer.example', headers: passFor('customer.example'), cc: cc(20, 'c'), text: 'x' }]);
    expect(made()).toBe(5);
    expect((await audit('m3@customer.example')).filter((e) => e.outcome === 'held').length).toBeGreaterThan(0);
    // Another sender reaches the install's ceiling (7): its mail waits, visibly.
    await run!.enqueue([{ mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '1', uid: uid++ }, record: await storedRecord(store, rawMail({ from: 'trent@customer.example', subject: 'four', messageId: 'm4@customer.example', headers: passFor('customer.example'), cc: cc(5, 'd'), text: 'x' })), receivedAt: new Date().toISOString() }]);
    for (let i = 0; i < 200 && !(await ceilingStatus(redis, prefix)).waiting; i++) await new Promise((r) => setTimeout(r, 100));
    const status = await ceilingStatus(redis, prefix);
    expect(status).toMatchObject({ thisHour: 7, waiting: { count: 7, limit: 7 } });
    expect(made()).toBeLessThanOrEqual(7);
    expect(await run!.queues.mailInbound.getJobCounts('delayed')).toMatchObject({ delayed: 1 });
    // Visible where operators look: /readyz's check, the gauges behind /metrics.
    expect(await ceilingCheck(redis, prefix).check()).toMatchObject({ ok: true, detail: expect.stringMatching(/ceiling reached \(7 this hour, maxNewAccountsPerHour 7\); mail .* waits/) });
    const m = createMetrics();
    await ceilingSource(redis, prefix).collect(m);
    expect(await m.registry.metrics()).toMatch(/mailroom_new_account_ceiling_waiting 1/);
    // More mail from new senders waits too: the log says the ceiling is reached once, not once per mail
    // (nor at each mail's recheck), and the wait keeps the time it began.
    const since = status.waiting!.since;
    for (const who of ['uma', 'vic', 'wes']) {
      await run!.enqueue([{ mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '1', uid: uid++ }, record: await storedRecord(store, rawMail({ from: `${who}@customer.example`, subject: who, messageId: `${who}@customer.example`, headers: passFor('customer.example'), text: 'x' })), receivedAt: new Date().toISOString() }]);
    }
    for (let i = 0; i < 200 && (await run!.queues.mailInbound.getJobCounts('delayed')).delayed! < 4; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await run!.queues.mailInbound.getJobCounts('delayed')).toMatchObject({ delayed: 4 });
    const reached = lines.filter((l) => /new-account ceiling of the install reached/.test(l.msg));
    expect(reached.filter((l) => l.level === 40)).toHaveLength(1);
    expect(reached.filter((l) => l.level === 20)).toHaveLength(3);
    expect((await ceilingStatus(redis, prefix)).waiting!.since).toBe(since);
  });

  it('5. a trailing dot does not pass deniedDomains; 6. server-marked spam creates no account and no issue', { timeout: 90_000 }, async () => {
    await start();
    await send([
      { from: 'eve@example.org.', subject: 'hi', messageId: 'd1@x.example', text: 'x' },
      { from: 'EVE@Sub.Example.ORG', subject: 'hi', messageId: 'd2@x.example', text: 'x' },
      { from: 'spammer@cheap.example', subject: 'WIN', messageId: 'sp1@cheap.example', headers: ['X-Spam-Flag: YES', 'X-Spam-Status: Yes, score=12.0'], text: 'x' },
    ]);
    expect(accounts('eve@example.org')).toHaveLength(0);
    expect(accounts('eve@sub.example.org')).toHaveLength(0);
    expect(accounts('spammer@cheap.example')).toHaveLength(0);
    expect(issues().map((i) => i.fields.summary)).toEqual(['hi', 'hi']);
    expect((await audit('sp1@cheap.example')).some((e) => e.step === 'classified' && /^spam/.test(e.detail ?? ''))).toBe(true);
  });
});

// Exchange Online's and Gmail's headers in their real shapes (docs/sender-verdicts.md cites them).
const exo = (domain: string, ok: boolean) =>
  ok
    ? [`Authentication-Results: spf=pass (sender IP is 209.85.128.41)\r\n smtp.mailfrom=${domain}; dkim=pass (signature was verified)\r\n header.d=${domain};dmarc=pass action=none header.from=${domain};compauth=pass\r\n reason=100`, 'X-MS-Exchange-Organization-AuthAs: Anonymous']
    : [`Authentication-Results: spf=fail (sender IP is 203.0.113.9)\r\n smtp.mailfrom=evil.test; dkim=none (message not signed)\r\n header.d=none;dmarc=fail action=oreject header.from=${domain};compauth=fail\r\n reason=000`, 'X-MS-Exchange-Organization-AuthAs: Anonymous'];
const gmail = (domain: string, ok: boolean) => [
  'Received: from mail.partner.example (mail.partner.example. [192.0.2.1]) by mx.google.com with ESMTPS id x1; Sat, 28 Nov 2026 11:02:00 -0800 (PST)',
  ok
    ? `Authentication-Results: mx.google.com;\r\n       dkim=pass header.i=@${domain} header.s=s1 header.b=AbCdEf;\r\n       spf=pass (google.com: domain of bob@${domain} designates 192.0.2.1 as permitted sender) smtp.mailfrom=bob@${domain};\r\n       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=${domain}`
    : `Authentication-Results: mx.google.com;\r\n       spf=fail (google.com: domain of bob@${domain} does not designate 203.0.113.9 as permitted sender) smtp.mailfrom=bob@${domain};\r\n       dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=${domain}`,
];
const madeFor = (emails: string[]) => emails.filter((e) => accounts(e).length > 0);

describe('safe by default (#23): verdicts on Microsoft 365 and Gmail without configuration', () => {
  it.each([
    ['m365', exo],
    ['gmail', gmail],
  ] as const)('%s: a forged reply (dmarc=fail) joins nothing and creates no one; the genuine reply becomes a comment', { timeout: 90_000 }, async (mailboxId, header) => {
    await start();
    await send([{ mailboxId, from: 'Bob Builder <bob@partner.example>', subject: 'Invoice 77 is wrong', messageId: `b1-${mailboxId}@partner.example`, headers: header('partner.example', true), text: 'please fix' }]);
    expect(issues().map((i) => i.key)).toEqual(['SUP-1']);
    const cc = ['new1@partner.example', 'new2@elsewhere.example'];
    await send([{ mailboxId, from: 'bob@partner.example', subject: 'Re: [SUP-1] Invoice 77 is wrong', messageId: `f1-${mailboxId}@evil.test`, inReplyTo: `b1-${mailboxId}@partner.example`, cc, headers: header('partner.example', false), text: 'pay to my new account' }]);
    expect(issue('SUP-1').comments).toHaveLength(0);
    expect(madeFor(cc)).toEqual([]);
    expect(issues()).toHaveLength(2);
    await send([{ mailboxId, from: 'bob@partner.example', subject: 'Re: [SUP-1] Invoice 77 is wrong', messageId: `b2-${mailboxId}@partner.example`, headers: header('partner.example', true), text: 'thanks' }]);
    expect(issue('SUP-1').comments).toHaveLength(1);
  });

  it('the four forged replies (softfail, unaligned pass, no header, a second header that fails) neither join nor create anyone, Cc included', { timeout: 90_000 }, async () => {
    await start();
    await send([{ from: 'bob@partner.example', subject: 'Order 5', messageId: 'o1@partner.example', headers: passFor('partner.example'), text: 'where is it' }]);
    const variants: string[][] = [
      [`Authentication-Results: ${MX}; spf=softfail smtp.mailfrom=partner.example; dkim=none; dmarc=none header.from=partner.example`],
      [`Authentication-Results: ${MX}; spf=pass smtp.mailfrom=evil.test; dkim=pass header.d=evil.test; dmarc=none header.from=partner.example`],
      [],
      [`Authentication-Results: ${MX}; spf=pass smtp.mailfrom=partner.example`, `Authentication-Results: ${MX}; dmarc=fail (p=reject) header.from=partner.example`],
    ];
    const cc = (i: number) => [`cc${i}a@newco.example`, `cc${i}b@newco.example`];
    await send(variants.map((headers, i) => ({ from: 'bob@partner.example', subject: 'Re: [SUP-1] Order 5', messageId: `v${i}@evil.test`, headers, cc: cc(i), text: `forged ${i}` })));
    expect(issue('SUP-1').comments).toHaveLength(0);
    expect(issues()).toHaveLength(5);
    expect(madeFor(variants.flatMap((_, i) => cc(i)))).toEqual([]);
    expect((await audit('v2@evil.test')).some((e) => e.step === 'sender-auth' && e.outcome === 'unverified')).toBe(true);
  });

  it('without any trusted verdict a reply joins through a Message-ID Mailroom delivered, never through a subject key; its Cc create no one', { timeout: 90_000 }, async () => {
    await start();
    await send([{ mailboxId: 'plain', from: 'carol@customer.example', subject: 'Printer', messageId: 'p1@customer.example', text: 'jams' }]);
    expect(issues().map((i) => i.key)).toEqual(['SUP-1']);
    await send([{ mailboxId: 'plain', from: 'carol@customer.example', subject: 'Re: [SUP-1] Printer', messageId: 'p2@customer.example', text: 'by key only' }]);
    expect(issue('SUP-1').comments).toHaveLength(0);
    await send([{ mailboxId: 'plain', from: 'carol@customer.example', subject: 'Re: Printer', messageId: 'p3@customer.example', inReplyTo: 'p1@customer.example', references: ['p1@customer.example'], cc: ['colleague@customer.example'], text: 'still jams' }]);
    expect(issue('SUP-1').comments).toHaveLength(1);
    expect(accounts('colleague@customer.example')).toHaveLength(0);
  });

  it('mail from inside the Microsoft 365 tenant (AuthAs: Internal) joins by subject key as before', { timeout: 90_000 }, async () => {
    await start({ replyAllowed: ['@acme.example'] });
    await send([{ mailboxId: 'm365', from: 'bob@partner.example', subject: 'Dock', messageId: 'k1@partner.example', headers: exo('partner.example', true), text: 'broken' }]);
    const internal = ['Authentication-Results: dkim=none (message not signed) header.d=none;dmarc=none action=none header.from=acme.example;', 'X-MS-Exchange-Organization-AuthAs: Internal', 'X-MS-Exchange-Organization-AuthSource: AM0PR01MB1234.eurprd01.prod.exchangelabs.com'];
    await send([{ mailboxId: 'm365', from: 'alice@acme.example', subject: 'Re: [SUP-1] Dock', messageId: 'k2@acme.example', headers: internal, text: 'on it' }]);
    expect(issue('SUP-1').comments).toHaveLength(1);
  });

  it('a burst of unverified mail does not delay a verified new customer: half the install ceiling is kept', { timeout: 90_000 }, async () => {
    await start({ maxNewAccountsPerHour: 6, maxNewAccountsPerSenderPerHour: 100, floodLimitPerHour: 1000 });
    const burst = Array.from({ length: 6 }, (_, i) => ({ from: `spoof${i}@random.example`, subject: `hi ${i}`, messageId: `x${i}@random.example`, text: 'x' }));
    await run!.enqueue(await Promise.all(burst.map(async (m) => ({ mailboxId: 'support', origin: { kind: 'imap' as const, uidvalidity: '1', uid: uid++ }, record: await storedRecord(store, rawMail(m)), receivedAt: new Date().toISOString() }))));
    for (let i = 0; i < 200 && !(await ceilingStatus(redis, prefix)).waiting; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await ceilingStatus(redis, prefix)).thisHour).toBe(3); // the unverified share of 6
    await run!.enqueue([{ mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '1', uid: uid++ }, record: await storedRecord(store, rawMail({ from: 'dana@newcustomer.example', subject: 'Help', messageId: 'dana1@newcustomer.example', headers: passFor('newcustomer.example'), text: 'first mail' })), receivedAt: new Date().toISOString() }]);
    for (let i = 0; i < 200 && !accounts('dana@newcustomer.example').length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(accounts('dana@newcustomer.example')).toHaveLength(1);
  });
});
