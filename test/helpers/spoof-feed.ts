// A feed of mail from genuine senders and from spoofers (their From fails DMARC at our
// receiving host), through resolver, provisioner and deliverer against the Jira simulator:
// accounts must be made for the genuine senders only, and comments only where the sender may
// write. Used by `npx tsx bench/spoof-feed.ts` (1,000 mails) and a smaller CI test.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'bullmq';
import { startDelivererWorker } from './stage-workers.js';
import { rawMail, storedRecord, type RawMailInput } from './deliver-testkit.js';
import { createJiraClient } from '../../src/jira/client.js';
import type { JiraSim } from '../../src/jira-sim/server.js';
import type { SeededSite } from '../../src/jira-sim/seed.js';
import { silentLogger } from '../../src/core/log.js';
import { FsMailStore } from '../../src/mail/store.js';
import type { Redis } from '../../src/core/redis.js';
import type { MailInbound } from '../../src/identity/resolver.js';
import { FAST_RETRY, seeded, startInProcess, testMailbox } from './sim-run.js';

export const FEED_AUTHSERV_ID = 'mx.acme.example';

export interface SpoofFeedOptions {
  sim: JiraSim;
  site: SeededSite;
  redis: Redis;
  workerConnection: () => Redis;
  prefix: string;
  mails: number;
  genuine: number;
  spoofers: number;
  seed?: number;
  timeoutMs?: number;
}

export interface SpoofFeedResult {
  mails: number;
  issues: number;
  comments: number;
  /** Genuine senders that got an account (should be all of them). */
  genuineWithAccount: number;
  /** Spoofed From addresses that got an account (must be 0). */
  spoofedWithAccount: number;
  /** Comments whose mail came from a spoofer (must be 0). */
  spoofedComments: number;
  /** Issues reported by a known person whose address a spoofer used (must be 0). */
  spoofedReporter: number;
  /** Mails that reached no terminal delivery (must be 0), and the first few of them. */
  undelivered: number;
  undeliveredIds: string[];
  seconds: number;
}

export async function runSpoofFeed(o: SpoofFeedOptions): Promise<SpoofFeedResult> {
  const started = Date.now();
  const rand = seeded(o.seed ?? 7);
  const store = new FsMailStore(mkdtempSync(join(tmpdir(), 'mr-spoof-')));
  const mailbox = testMailbox({
    id: 'support',
    addresses: ['support@acme.example'],
    policy: { autoCreate: 'user', authservIds: [FEED_AUTHSERV_ID], floodLimitPerHour: 10_000, maxNewAccountsPerHour: 10_000, maxNewAccountsPerSenderPerHour: 100 },
    deliver: { project: 'SUP' },
  });
  const run = await startInProcess({
    redis: o.redis,
    workerConnection: o.workerConnection,
    prefix: o.prefix,
    mailboxes: [mailbox],
    jira: { url: o.sim.url, email: o.site.admin.email, token: o.site.admin.token },
    logger: silentLogger,
    retry: FAST_RETRY,
    resolverConcurrency: 8,
  });
  const client = createJiraClient({ baseUrl: o.sim.url, email: o.site.admin.email, token: o.site.admin.token, timeoutMs: 5_000 });
  const deliverer: Worker = startDelivererWorker(
    { redis: o.redis, prefix: o.prefix, mailbox: () => mailbox, store, jira: async () => client, retry: FAST_RETRY, lockMs: 10_000, audit: run.pipeline.audit },
    { connection: o.workerConnection(), logger: silentLogger, concurrency: 8 },
  );
  const pass = `Authentication-Results: ${FEED_AUTHSERV_ID}; spf=pass smtp.mailfrom=genuine.example; dkim=pass; dmarc=pass`;
  const fail = `Authentication-Results: ${FEED_AUTHSERV_ID}; spf=fail; dkim=none; dmarc=fail (p=reject)`;
  const genuine = Array.from({ length: o.genuine }, (_, i) => `person${i}@genuine${i % 5}.example`);
  // Spoofers pose as genuine senders, as a known partner, or as made-up addresses.
  const spoofed = Array.from({ length: o.spoofers }, (_, i) => (i % 3 === 0 ? genuine[i % genuine.length]! : i % 3 === 1 ? 'bob@partner.example' : `ceo${i}@bank${i % 4}.example`));
  const spoofFrom = new Set<string>();
  let uid = 1;
  /** Spoofed mails: Message-ID -> the From they forged. */
  const fromSpoofer = new Map<string, string>();
  const enqueue = async (mails: Array<RawMailInput & { spoof: boolean }>) => {
    const jobs: MailInbound[] = [];
    for (const m of mails) {
      const record = await storedRecord(store, rawMail(m));
      if (m.spoof) fromSpoofer.set(m.messageId, m.from);
      jobs.push({ mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '1', uid: uid++ }, record, receivedAt: new Date().toISOString() });
    }
    await run.enqueue(jobs);
    await settle();
  };
  const settle = async () => {
    const end = Date.now() + (o.timeoutMs ?? 600_000);
    for (;;) {
      const [m, p, d] = await Promise.all([
        run.queues.mailInbound.getJobCounts('waiting', 'active', 'delayed', 'prioritized'),
        run.queues.identityProvision.getJobCounts('waiting', 'active', 'delayed', 'prioritized'),
        run.queues.jiraDeliver.getJobCounts('waiting', 'active', 'delayed', 'prioritized'),
      ]);
      const busy = [m, p, d].reduce((n, c) => n + (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), 0);
      if (!busy) return;
      if (Date.now() > end) throw new Error(`spoof feed did not settle: ${JSON.stringify({ m, p, d })}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    // Wave 1: every genuine sender's first mail, and as many spoofed first mails.
    const firsts = genuine.map((from, i) => ({ from, subject: `Question ${i}`, messageId: `g${i}-0@genuine.example`, text: 'hello', headers: [pass], spoof: false }));
    const spoofFirsts = spoofed.map((from, i) => ({ from, subject: `Urgent ${i}`, messageId: `s${i}-0@spoof.example`, text: 'pay now', headers: [fail], spoof: true }));
    spoofed.forEach((s) => spoofFrom.add(s));
    await enqueue([...firsts, ...spoofFirsts]);
    // Wave 2: the rest, half genuine follow-ups to their own thread, half spoofed replies that
    // claim a genuine sender's thread (by In-Reply-To or by its issue key in the subject).
    const rest: Array<RawMailInput & { spoof: boolean }> = [];
    for (let n = firsts.length + spoofFirsts.length; n < o.mails; n++) {
      const g = Math.floor(rand() * genuine.length);
      if (n % 2 === 0) {
        rest.push({ from: genuine[g]!, subject: `Re: Question ${g}`, messageId: `g${g}-${n}@genuine.example`, inReplyTo: `g${g}-0@genuine.example`, references: [`g${g}-0@genuine.example`], text: `more ${n}`, headers: [pass], spoof: false });
      } else {
        const s = spoofed[Math.floor(rand() * spoofed.length)]!;
        const byKey = rand() < 0.5;
        rest.push({ from: s, subject: byKey ? `Re: SUP-${1 + g} update` : `Re: Question ${g}`, messageId: `s-${n}@spoof.example`, ...(byKey ? {} : { inReplyTo: `g${g}-0@genuine.example` }), text: 'send the file', headers: [fail], spoof: true });
      }
    }
    await enqueue(rest);

    const issues = o.sim.state.allIssues();
    const comments = issues.reduce((n, i) => n + i.comments.length, 0);
    const byProperty = new Map(issues.map((i) => [(i.properties.get('mailroom.message') as { id?: string } | undefined)?.id ?? '', i]));
    // A spoofed mail's issue must not be reported by the account of the address it forged.
    const spoofedReporter = [...fromSpoofer].filter(([id, from]) => {
      const r = (byProperty.get(id)?.fields.reporter as { accountId?: string } | undefined)?.accountId;
      return r !== undefined && o.sim.state.accountsByEmail(from).some((a) => a.accountId === r);
    }).length;
    const all = [...firsts, ...spoofFirsts, ...rest].map((m) => m.messageId);
    // Delivered = the audit trail says so (the issue's comment-id property is only a recovery aid).
    const delivered = new Set<string>();
    let spoofedComments = 0;
    for (const id of all) {
      const done = (await run.pipeline.audit.read(id)).find((e) => e.step === 'delivered');
      if (done) delivered.add(id);
      if (done && fromSpoofer.has(id) && /^comment /.test(done.jira ?? '')) spoofedComments++;
    }
    const spoofOnly = [...spoofFrom].filter((e) => !genuine.includes(e) && e !== 'bob@partner.example');
    return {
      mails: all.length,
      issues: issues.length,
      comments,
      genuineWithAccount: genuine.filter((e) => o.sim.state.accountsByEmail(e).length > 0).length,
      spoofedWithAccount: spoofOnly.filter((e) => o.sim.state.accountsByEmail(e).length > 0).length,
      spoofedComments,
      spoofedReporter,
      undelivered: all.filter((id) => !delivered.has(id)).length,
      undeliveredIds: all.filter((id) => !delivered.has(id)).slice(0, 5),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await deliverer.close();
    await run.stop();
  }
}
