// Step 1 of a provision: the account, found or created exactly once. A create that may have
// happened without an answer (timeout, dropped connection) is looked up before the next try.
import { RateLimitedError, RetryableError, describeError } from '../core/errors.js';
import { metrics } from '../core/metrics.js';
import { AlreadyExistsError, JiraServerError } from '../jira/errors.js';
import type { JiraAccount } from '../jira/types.js';
import { releaseNewAccount } from './account-ceiling.js';
import { toCached, type CachedAccount } from './cache.js';
import { displayNameFor } from './policy.js';
import type { ProvisionRun } from './provision-run.js';

/**
 * Whether a failed create can be retried as a create, without a look-up first. A 429 was
 * refused before Jira did anything. A 5xx answer almost always means the write did not happen,
 * and if it did, the next create gets "already exists" and looks the account up: safe either
 * way, and it spares a search. No answer at all (timeout, dropped connection) is the truly
 * uncertain case: the request may have been applied, so the next run looks up first.
 */
export function answeredWithoutEffect(err: unknown): boolean {
  if (err instanceof RateLimitedError) return true;
  return err instanceof JiraServerError;
}

/**
 * The account's id, once it exists (progress saved at 'memberships'). The audit entry of a create
 * and the saved progress are written together: neither needs the other, and a new sender's mail
 * waits on every round trip here (issue #25).
 */
export async function ensureAccount(run: ProvisionRun): Promise<string> {
  const { state } = run;
  if (!state.accountId) {
    const found = await existingAccount(run);
    let record: (() => Promise<void>) | undefined;
    if (found) {
      // Not a new account after all: not counted, and its slot under the install's ceiling is given back.
      Object.assign(state, { accountId: found.accountId, account: found, created: false });
      await releaseNewAccount(run.p.redis, run.p.prefix, run.email);
    } else record = await createAccount(run);
    state.step = 'memberships';
    await Promise.all([run.progress.save(state), record?.()]);
  }
  return state.accountId!;
}

/**
 * How recent a "no account" answer must be for the create to go ahead without asking again.
 * Jira answers a create for an account that already has access with 201 and that account
 * (spec, createUser), exactly as it answers a real creation: the only way to count accounts
 * truly created is to know, just before, that there was none. The resolver's look-up is
 * usually milliseconds old (a new sender's mail goes straight here); a cached one (negative TTL
 * 10 min) or a job retried later is asked again, one search.
 */
export const FRESH_NEGATIVE_MS = 30_000;

async function existingAccount(run: ProvisionRun): Promise<CachedAccount | undefined> {
  const { p, email, state, base, audit, known } = run;
  if (known?.found) return known.account;
  const uncertain = state.step === 'creating'; // an earlier run asked Jira to create and did not hear back: it may have worked
  if (!uncertain && known && Date.now() - known.at < FRESH_NEGATIVE_MS) return undefined;
  const e = await p.cache.refresh(email);
  await audit.record({ ...base, step: 'lookup-before-create', outcome: e.found ? 'found' : 'not-found', jira: e.found ? `accountId ${e.account.accountId}` : 'no account with this email' });
  return e.found ? e.account : undefined;
}

/** Creates the account (state updated); resolves with the write of its audit entry, for the caller to run beside its own. */
async function createAccount(run: ProvisionRun): Promise<(() => Promise<void>) | undefined> {
  const { p, data, email, state, base, audit } = run;
  state.step = 'creating';
  await run.progress.save(state);
  const made = await askJiraToCreate(run);
  const step = data.mode === 'user' ? 'create-user' : 'create-customer';
  if (made === 'exists') {
    await audit.record({ ...base, step, outcome: 'exists', jira: 'already exists: looking it up' });
    const e = await p.cache.refresh(email);
    if (!e.found) throw new RetryableError(`Jira says ${email} exists, but the user search does not find it yet`);
    Object.assign(state, { accountId: e.account.accountId, account: e.account, created: false });
    // Not a new account: not counted, and its slot under the install's ceiling is given back.
    await releaseNewAccount(p.redis, p.prefix, email);
    return undefined;
  }
  metrics.accountsCreated.inc({ mode: data.mode });
  Object.assign(state, { accountId: made.accountId, account: toCached(made), created: true });
  return () => audit.record({ ...base, step, outcome: 'created', jira: `accountId ${made.accountId} (${made.accountType})` });
}

/** Jira's answer to the create: the new account, or 'exists'. Any other failure is recorded and thrown. */
async function askJiraToCreate(run: ProvisionRun): Promise<JiraAccount | 'exists'> {
  const { data, email, policy, client, state, base, audit } = run;
  const displayName = displayNameFor(email, data.displayName);
  try {
    return data.mode === 'user'
      ? await client.createUser({ emailAddress: email, displayName, products: policy.products })
      : await client.createCustomer({ email, displayName });
  } catch (err) {
    if (err instanceof AlreadyExistsError) return 'exists';
    await audit.record({ ...base, step: data.mode === 'user' ? 'create-user' : 'create-customer', outcome: 'error', jira: describeError(err) });
    if (answeredWithoutEffect(err)) {
      state.step = 'start';
      await run.progress.save(state);
    }
    throw err;
  }
}
