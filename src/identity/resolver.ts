// The mail-inbound processor: finds a mail's people in Jira and waits, crash-safely, until the
// ones policy wants provisioned have accounts; then hands the mail to delivery.
//
// Progress lives in the job's data (`pipeline`), so a re-run (after a crash, a promotion or a
// fallback re-check) continues where the last run stopped. A mail that must wait for a
// provision job registers itself as a waiter for that email and parks in the delayed set; the
// provisioner promotes it when the account is ready. Waiting spends no attempts.
import { DelayedError } from 'bullmq';
import type { z } from 'zod';
import { PermanentError } from '../core/errors.js';
import { identityProvision, jiraDeliver, mailboxActions, mailInbound, type ResolvedPerson } from '../queues/catalog.js';
import { addJob } from '../queues/queue.js';
import type { Processor, ProcessorContext } from '../queues/worker.js';
import { createLedger } from '../mail/ledger.js';
import { mailKey, normalizeMessageId } from '../mail/id.js';
import { senderVerdict } from '../mail/auth-results.js';
import type { AuditInput } from '../queues/audit.js';
import { auditLine, tell, waitingProgress } from '../queues/story.js';
import type { Pipeline, PipelineQueues } from './context.js';
import { markWaiting, takeNewAccount } from './account-ceiling.js';
import { countMail } from './flood.js';
import { deliverIdentity } from './mail-identity.js';
import { decide, normalizeEmail, screen, selectParticipants, type Role } from './policy.js';
import { recheckDelay, registerWaiter } from './waiters.js';

export type MailInbound = z.infer<typeof mailInbound.payload>;

/** A mail waiting at the install's new-account ceiling looks again this often (a raised ceiling applies soon). */
export const CEILING_RECHECK_MS = 5 * 60_000;

export type PersonStatus = 'new' | 'known' | 'ignored' | 'held' | 'pending' | 'provisioned' | 'gave-up';

interface PersonState {
  email: string;
  name?: string;
  role: Role;
  status: PersonStatus;
  accountId?: string;
  mode?: 'user' | 'customer';
  reason?: string;
}

interface ResolveState {
  v: 1;
  people: PersonState[];
  flood?: { count: number; limit: number; held: boolean };
  /** Times this mail has parked waiting for its people (drives the fallback re-check delay). */
  passes: number;
}

export type ResolveResult =
  | { outcome: 'classified'; kind: string; reason: string }
  | { outcome: 'resolved'; people: ResolvedPerson[]; deliverJobId: string };

/** Where resolver progress is kept in the mail job's data (beside the payload). */
export const STATE_FIELD = 'pipeline';

function readState(data: unknown): ResolveState | undefined {
  const s = (data as Record<string, unknown> | undefined)?.[STATE_FIELD] as ResolveState | undefined;
  return s && s.v === 1 && Array.isArray(s.people) ? s : undefined;
}

async function saveState(ctx: ProcessorContext, state: ResolveState): Promise<void> {
  const data = { ...(ctx.job.data as Record<string, unknown>), [STATE_FIELD]: state };
  await ctx.job.updateData(data);
}

export function createResolver(p: Pipeline, queues: PipelineQueues): Processor<MailInbound> {
  return async (data, ctx) => {
    const { job, log } = ctx;
    // Every audit entry is also a line in the job's log tab on the board.
    const audit = { record: async (ev: AuditInput) => void (await Promise.all([p.audit.record(ev), tell(job, auditLine(ev))])) };
    const mailbox = p.mailbox(data.mailboxId);
    if (!mailbox) throw new PermanentError(`mail for mailbox "${data.mailboxId}", which is not in the configuration`);
    const policy = mailbox.policy;
    const record = data.record;
    const mail = record.messageId ? normalizeMessageId(record.messageId) : String(job.id);
    const base = { mail, mailboxId: data.mailboxId };
    const sender = record.from ? normalizeEmail(record.from.address) : undefined;
    const c = record.classification;

    if (c.kind === 'unparseable') {
      await audit.record({ ...base, email: sender, step: 'classified', outcome: 'failed', detail: `unparseable: ${c.reason}` });
      throw new PermanentError(`the mail could not be parsed (${c.reason}); its raw source is kept in the store (${record.rawRef.sha256})`);
    }
    if (c.kind !== 'human') {
      // Classified mail is recorded, never resolved: a bounce or an auto-reply must not make users.
      await audit.record({ ...base, email: sender, step: 'classified', outcome: 'skipped', detail: `${c.kind}: ${c.reason}` });
      if (data.origin.kind === 'imap' && queues.mailboxActions) {
        await addJob(queues.mailboxActions, mailboxActions, {
          mailboxId: data.mailboxId,
          uidvalidity: data.origin.uidvalidity,
          uid: data.origin.uid,
          outcome: 'classified',
        }, p.retry);
      }
      log.info({ kind: c.kind }, 'classified mail: no people resolved');
      return { outcome: 'classified', kind: c.kind, reason: c.reason } satisfies ResolveResult;
    }

    // The receiving server's verdict on the From (trusted authserv-ids only): a forged sender is
    // never created and never the reporter; its mail is held for a person, or delivered flagged.
    const verdict = senderVerdict(record.authResults, policy.authservIds);
    if (verdict.result === 'fail' && policy.onAuthFail === 'hold') {
      await audit.record({ ...base, email: sender, step: 'sender-auth', outcome: 'held', detail: `${verdict.detail}: held (policy.onAuthFail is "hold")` });
      throw new PermanentError(`held: the receiving server says the sender ${sender ?? ''} is forged (${verdict.detail}); check the mail, then reprocess it or delete it`);
    }

    let tokenAccount: string | undefined;
    const account = async () => (tokenAccount ??= (await p.jira()).account);

    let state = readState(job.data);
    if (!state) {
      // Replies that overtake this mail (same thread, arriving together) wait for its delivery.
      await createLedger(p.redis, p.prefix).markPending(mailKey(record));
      const people = selectParticipants(record, mailbox).map((x): PersonState => ({ ...x, status: 'new' }));
      state = { v: 1, people, passes: 0 };
      if (verdict.result === 'fail') {
        for (const x of people.filter((y) => y.role === 'sender')) Object.assign(x, { status: 'ignored', reason: 'sender-auth-failed' });
        await audit.record({ ...base, email: sender, step: 'sender-auth', outcome: 'failed', detail: `${verdict.detail}: the sender is neither created nor made reporter; the mail is delivered flagged` });
      }
      if (sender && people.some((x) => x.role === 'sender' && x.status === 'new') && policy.autoCreate !== 'none') {
        const count = await countMail(p.redis, p.prefix, sender, String(job.id));
        const held = count > policy.floodLimitPerHour;
        state.flood = { count, limit: policy.floodLimitPerHour, held };
        if (held) {
          await audit.record({ ...base, email: sender, step: 'flood-limit', outcome: 'held', detail: `mail ${count} this hour, limit ${policy.floodLimitPerHour}: not provisioned` });
        }
      }
      // Saved with the decisions below: a crash before that re-counts this mail, which the
      // flood set ignores (one entry per mail job).
    }

    // 1. Look up and decide, for everyone not decided yet.
    const fresh = state.people.filter((x) => x.status === 'new');
    // New accounts this mail has asked for already (a re-run counts them again from its state).
    let newAccounts = state.people.filter((x) => x.mode !== undefined).length;
    let installFull: { count: number; limit: number; retryAt: number } | undefined;
    if (fresh.length) {
      const flood = state.flood;
      await Promise.all(fresh.map(async (person) => {
        const s = screen(person.email, policy);
        if (!s.lookup) {
          Object.assign(person, { status: 'ignored', reason: s.reason });
          await audit.record({ ...base, email: person.email, step: 'decision', outcome: 'ignored', detail: s.detail });
          return;
        }
        const { entry, source } = await p.cache.resolve(person.email);
        // A cache hit is not worth an entry of its own: the mail's deliver-queued entry names
        // every participant's account. What Jira itself answered is always recorded.
        if (source !== 'cache') await audit.record({
          ...base,
          email: person.email,
          step: 'lookup',
          outcome: entry.found ? 'found' : 'not-found',
          detail: `from ${source}`,
          ...(source === 'jira' ? { tokenAccount: await account(), jira: entry.found ? `accountId ${entry.account.accountId}${entry.account.emailHidden ? ' (email hidden)' : ''}` : 'no account with this email' } : {}),
        });
        const flooded = person.role === 'sender' && !!flood?.held;
        const d = decide(person.email, entry.found, policy, { flooded, floodDetail: flood ? `mail ${flood.count} this hour, limit ${flood.limit}` : undefined });
        switch (d.action) {
          case 'known':
            if (entry.found) Object.assign(person, { status: 'known', accountId: entry.account.accountId });
            return;
          case 'ignore':
          case 'hold':
            Object.assign(person, { status: d.action === 'hold' ? 'held' : 'ignored', reason: d.reason });
            await audit.record({ ...base, email: person.email, step: 'decision', outcome: d.action === 'hold' ? 'held' : 'ignored', detail: d.detail });
            return;
          case 'provision': {
            // A held mail creates no one; then the ceilings on new accounts (src/identity/account-ceiling.ts).
            const hold = async (reason: string, detail: string) => {
              Object.assign(person, { status: 'held', reason });
              await audit.record({ ...base, email: person.email, step: 'decision', outcome: 'held', detail });
            };
            if (flood?.held) return hold('flood', `the mail's sender is over the flood limit (mail ${flood.count} this hour, limit ${flood.limit}): this mail creates no accounts`);
            if (++newAccounts > policy.maxNewAccountsPerMail) return hold('account-ceiling', `this mail already asked for ${policy.maxNewAccountsPerMail} new accounts (policy.maxNewAccountsPerMail)`);
            const take = await takeNewAccount(p.redis, p.prefix, sender ?? person.email, person.email, { perSenderPerHour: policy.maxNewAccountsPerSenderPerHour, perInstallPerHour: policy.maxNewAccountsPerHour });
            if (!take.ok && take.which === 'sender') return hold('account-ceiling', `mails from ${sender ?? person.email} created ${take.count} new accounts this hour (policy.maxNewAccountsPerSenderPerHour ${take.limit})`);
            if (!take.ok) {
              // The install's ceiling: the person stays undecided and the mail waits for the next hour.
              newAccounts--;
              installFull = { count: take.count, limit: take.limit, retryAt: take.retryAt };
              return;
            }
            await addJob(queues.identityProvision, identityProvision, {
              site: p.site,
              email: person.email,
              ...(person.name ? { displayName: person.name } : {}),
              mode: d.mode,
              mailboxId: data.mailboxId,
              messageId: mail,
            }, p.retry);
            Object.assign(person, { status: 'pending', mode: d.mode });
            await audit.record({ ...base, email: person.email, step: 'provision-queued', outcome: 'ok', detail: `auto-create ${d.mode}` });
            return;
          }
        }
      }));
      await saveState(ctx, state);
    }
    if (installFull) {
      await markWaiting(p.redis, p.prefix, installFull);
      await audit.record({ ...base, step: 'account-ceiling', outcome: 'waiting', detail: `the install created ${installFull.count} new accounts this hour (maxNewAccountsPerHour ${installFull.limit}): waiting until ${new Date(installFull.retryAt).toISOString()}` });
      log.warn(installFull, 'new-account ceiling of the install reached: mail waits for the next hour');
      // Re-checked within a few minutes (an operator may raise the ceiling), at the latest when the hour turns.
      await job.moveToDelayed(Math.min(installFull.retryAt, Date.now() + CEILING_RECHECK_MS), ctx.token);
      throw new DelayedError();
    }

    // 2. Wait for provisioning, if any is still going on.
    const pending = () => state.people.filter((x) => x.status === 'pending');
    if (pending().length) {
      await Promise.all(pending().map((x) => checkPending(x)));
      if (pending().length) {
        await Promise.all(pending().map((x) => registerWaiter(p.redis, p.prefix, p.site, x.email, String(job.id))));
        // The provisioner may have finished between our check and our registration.
        await Promise.all(pending().map((x) => checkPending(x)));
      }
      if (pending().length) {
        state.passes++;
        await saveState(ctx, state);
        if (state.passes === 1) {
          await audit.record({ ...base, step: 'waiting', outcome: 'waiting', detail: `for ${pending().map((x) => x.email).join(', ')}` });
        }
        // On the board: a mail waiting for its people, told apart from a retry backoff.
        const recheckAt = Date.now() + recheckDelay(state.passes);
        const waitingFor = pending().map((x) => x.email).join(', ');
        await job.updateProgress({ ...waitingProgress(`the Jira account of ${waitingFor} (being provisioned)`, recheckAt), for: pending().map((x) => x.email) });
        if (state.passes === 1) await tell(job, `waiting for the Jira account of ${waitingFor}: not a retry, no attempt spent; the provisioner wakes this mail when it is ready`);
        await job.moveToDelayed(recheckAt, ctx.token);
        throw new DelayedError();
      }
      await saveState(ctx, state);
      if (state.passes > 0) await job.updateProgress(0); // waiting is over
    }

    // 3. Everyone is settled: on to delivery.
    const people: ResolvedPerson[] = state.people.map((x) => ({
      email: x.email,
      role: x.role,
      status: x.status,
      ...(x.accountId ? { accountId: x.accountId } : {}),
      ...(x.reason ? { reason: x.reason } : {}),
    }));
    const deliverData = { mailboxId: data.mailboxId, origin: data.origin, record, people };
    const identity = await deliverIdentity(queues.jiraDeliver, deliverData);
    if (identity.kind === 'byte-identical-copy') {
      // Nothing new to deliver: the same bytes are on their way (or delivered) from another position.
      await audit.record({ ...base, step: 'duplicate', outcome: 'duplicate', detail: `byte-identical copy (sha256 ${record.rawRef.sha256}) of the mail in job ${identity.jobId}: not delivered again` });
      return { outcome: 'resolved', people, deliverJobId: identity.jobId } satisfies ResolveResult;
    }
    if (identity.kind === 'same-id-other-content') {
      await audit.record({ ...base, step: 'same-message-id', outcome: 'ok', detail: `another mail (job ${identity.firstJobId}) has this Message-ID with other content: this one (sha256 ${record.rawRef.sha256}) is delivered on its own` });
    }
    const deliver = await addJob(queues.jiraDeliver, jiraDeliver, deliverData, p.retry, { jobId: identity.jobId });
    await audit.record({
      ...base,
      step: 'deliver-queued',
      outcome: 'ok',
      detail: people.map((x) => `${x.email}=${x.status}${x.accountId ? `(${x.accountId})` : ''}`).join(', ') || 'no participants',
    });
    return { outcome: 'resolved', people, deliverJobId: String(deliver.id) } satisfies ResolveResult;

    async function checkPending(person: PersonState): Promise<void> {
      const entry = await p.cache.peek(person.email);
      if (entry?.found) {
        Object.assign(person, { status: 'provisioned', accountId: entry.account.accountId });
        return;
      }
      const jobId = identityProvision.jobId({ site: p.site, email: person.email, mode: person.mode ?? 'user', mailboxId: data.mailboxId });
      const js = await queues.identityProvision.getJobState(jobId);
      if (js === 'failed') {
        const failed = await queues.identityProvision.getJob(jobId);
        const reason = failed?.failedReason ?? 'provisioning failed';
        Object.assign(person, { status: 'gave-up', reason: `provisioning failed: ${reason}` });
        await audit.record({ ...base, email: person.email, step: 'gave-up', outcome: 'error', detail: reason });
      } else if (js === 'completed') {
        const e = await p.cache.refresh(person.email);
        if (e.found) Object.assign(person, { status: 'provisioned', accountId: e.account.accountId });
        else {
          Object.assign(person, { status: 'gave-up', reason: 'provisioning finished but Jira has no account for this email' });
          await audit.record({ ...base, email: person.email, step: 'gave-up', outcome: 'error', detail: 'provisioning finished but Jira has no account for this email' });
        }
      } else if (js === 'unknown') {
        // The provision job is gone (removed by hand, or Redis lost it): ask again.
        await addJob(queues.identityProvision, identityProvision, {
          site: p.site,
          email: person.email,
          ...(person.name ? { displayName: person.name } : {}),
          mode: person.mode ?? 'user',
          mailboxId: data.mailboxId,
          messageId: mail,
        }, p.retry);
      }
    }
  };
}
