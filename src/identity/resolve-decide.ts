// Step 1 of a resolve: everyone not decided yet is looked up (through the identity cache) and
// decided on: known, ignored, held, or a provision job asked for, within the ceilings on new
// accounts (src/identity/account-ceiling.ts).
import { verdictOf } from '../mail/sender-trust.js';
import { identityProvision } from '../queues/catalog.js';
import { markWaiting, takeNewAccount } from './account-ceiling.js';
import type { CacheEntry, LookupSource } from './cache.js';
import { decide, screen } from './policy.js';
import { provisionRequest, type PersonState, type ResolveRun, type ResolveState } from './resolve-run.js';

/** A mail waiting at the install's new-account ceiling looks again this often (a raised ceiling applies soon). */
export const CEILING_RECHECK_MS = 5 * 60_000;

type Flood = ResolveState['flood'];

interface InstallFull {
  count: number;
  limit: number;
  retryAt: number;
}

/** What the people decided at once share. */
interface DecideRound {
  /** New accounts this mail has asked for already (a re-run counts them again from its state). */
  newAccounts: number;
  /** Set when the install's ceiling left someone undecided. */
  installFull?: InstallFull;
}

/** Decide everyone still new; the mail parks when the install's ceiling is reached. */
export async function decideNewPeople(run: ResolveRun, state: ResolveState): Promise<void> {
  const fresh = state.people.filter((x) => x.status === 'new');
  const round: DecideRound = { newAccounts: state.people.filter((x) => x.mode !== undefined).length };
  if (fresh.length) {
    await Promise.all(fresh.map((person) => decidePerson(run, state.flood, person, round)));
    await run.progress.save(state);
  }
  if (round.installFull) await waitAtInstallCeiling(run, round.installFull);
}

async function decidePerson(run: ResolveRun, flood: Flood, person: PersonState, round: DecideRound): Promise<void> {
  const { p, policy, base, audit } = run;
  const s = screen(person.email, policy);
  if (!s.lookup) {
    Object.assign(person, { status: 'ignored', reason: s.reason });
    await audit.record({ ...base, email: person.email, step: 'decision', outcome: 'ignored', detail: s.detail });
    return;
  }
  const { entry, source } = await p.cache.resolve(person.email);
  // A cache hit is not worth an entry of its own: the mail's deliver-queued entry names
  // every participant's account. What Jira itself answered is always recorded, beside the
  // decision rather than before it (a new sender's provision job waits on each round trip),
  // and before this person's next entry, so the trail keeps its order (issue #25).
  const recorded = source !== 'cache' ? recordLookup(run, person, entry, source) : Promise.resolve();
  recorded.catch(() => undefined); // awaited below; marked handled if a step throws first
  const flooded = person.role === 'sender' && !!flood?.held;
  const d = decide(person.email, entry.found, policy, { flooded, floodDetail: flood ? `mail ${flood.count} this hour, limit ${flood.limit}` : undefined });
  switch (d.action) {
    case 'known':
      if (entry.found) Object.assign(person, { status: 'known', accountId: entry.account.accountId });
      return recorded;
    case 'ignore':
    case 'hold':
      Object.assign(person, { status: d.action === 'hold' ? 'held' : 'ignored', reason: d.reason });
      await recorded;
      await audit.record({ ...base, email: person.email, step: 'decision', outcome: d.action === 'hold' ? 'held' : 'ignored', detail: d.detail });
      return;
    case 'provision':
      if (person.role !== 'sender' && verdictOf(run.record, run.mailbox).result !== 'pass') {
        await recorded;
        return refuseUnverified(run, person);
      }
      return provisionPerson(run, flood, person, d.mode, round, recorded);
  }
}

/** Mail whose sender is not verified creates nobody but (where policy allows) its sender: a forger could list anyone in To or Cc. */
async function refuseUnverified(run: ResolveRun, person: PersonState): Promise<void> {
  Object.assign(person, { status: 'ignored', reason: 'sender-not-verified' });
  const detail = `the receiving server did not verify this mail's sender (${verdictOf(run.record, run.mailbox).detail}): nobody in its ${person.role} is created`;
  await run.audit.record({ ...run.base, email: person.email, step: 'decision', outcome: 'ignored', detail });
}

async function recordLookup(run: ResolveRun, person: PersonState, entry: CacheEntry, source: LookupSource): Promise<void> {
  await run.audit.record({
    ...run.base,
    email: person.email,
    step: 'lookup',
    outcome: entry.found ? 'found' : 'not-found',
    detail: `from ${source}`,
    ...(source === 'jira' ? { tokenAccount: await run.account(), jira: entry.found ? `accountId ${entry.account.accountId}${entry.account.emailHidden ? ' (email hidden)' : ''}` : 'no account with this email' } : {}),
  });
}

/** A held mail creates no one; then the ceilings on new accounts, per mail, per sender, per install. */
async function provisionPerson(run: ResolveRun, flood: Flood, person: PersonState, mode: 'user' | 'customer', round: DecideRound, recorded: Promise<void>): Promise<void> {
  const { p, policy, base, sender, audit } = run;
  const hold = async (reason: string, detail: string) => {
    Object.assign(person, { status: 'held', reason });
    await recorded;
    await audit.record({ ...base, email: person.email, step: 'decision', outcome: 'held', detail });
  };
  if (flood?.held) return hold('flood', `the mail's sender is over the flood limit (mail ${flood.count} this hour, limit ${flood.limit}): this mail creates no accounts`);
  const suspect = run.record.classification;
  if (suspect.suspected) return hold('suspected-automated', `a weak signal says this may be machine mail (${suspect.reason}): this mail creates no accounts`);
  if (++round.newAccounts > policy.maxNewAccountsPerMail) return hold('account-ceiling', `this mail already asked for ${policy.maxNewAccountsPerMail} new accounts (policy.maxNewAccountsPerMail)`);
  const verified = verdictOf(run.record, run.mailbox).result === 'pass';
  const limits = { perSenderPerHour: policy.maxNewAccountsPerSenderPerHour, perInstallPerHour: policy.maxNewAccountsPerHour, perInstallPerHourUnverified: unverifiedShare(policy), verified };
  const take = await takeNewAccount(p.redis, p.prefix, sender ?? person.email, person.email, limits);
  if (!take.ok && take.which === 'sender') return hold('account-ceiling', `mails from ${sender ?? person.email} created ${take.count} new accounts in the last hour (policy.maxNewAccountsPerSenderPerHour ${take.limit})`);
  if (!take.ok) {
    // The install's ceiling: the person stays undecided and the mail waits for the next hour.
    round.newAccounts--;
    round.installFull = { count: take.count, limit: take.limit, retryAt: take.retryAt };
    return recorded;
  }
  await run.ctx.add(identityProvision, provisionRequest(run, person, mode));
  Object.assign(person, { status: 'pending', mode });
  await recorded;
  await audit.record({ ...base, email: person.email, step: 'provision-queued', outcome: 'ok', detail: `auto-create ${mode}` });
}

/** What unverified senders' mail may use of the install's hourly ceiling: the rest is kept for verified senders. */
export function unverifiedShare(policy: Pick<ResolveRun['policy'], 'maxNewAccountsPerHour' | 'newAccountsKeptForVerified'>): number {
  return Math.max(0, Math.floor(policy.maxNewAccountsPerHour * (1 - policy.newAccountsKeptForVerified)));
}

async function waitAtInstallCeiling(run: ResolveRun, installFull: InstallFull): Promise<never> {
  const { p, ctx, base, audit } = run;
  const first = await markWaiting(p.redis, p.prefix, installFull);
  await audit.record({ ...base, step: 'account-ceiling', outcome: 'waiting', detail: `the install created ${installFull.count} new accounts in the last hour (limit ${installFull.limit} for this mail's sender; maxNewAccountsPerHour, of which newAccountsKeptForVerified is kept for verified senders): waiting until ${new Date(installFull.retryAt).toISOString()}` });
  // Once per wait at warn (every mail and every recheck would flood the log in a burst of new
  // senders); the audit trail and the job's story name each mail, /metrics and status the wait.
  ctx.log[first ? 'warn' : 'debug'](installFull, 'new-account ceiling of the install reached: mail waits until an account leaves the hour window');
  // Re-checked within a few minutes (an operator may raise the ceiling), at the latest when the hour turns.
  return ctx.park(Math.min(installFull.retryAt, Date.now() + CEILING_RECHECK_MS), 'the install\'s new-account ceiling is reached');
}
