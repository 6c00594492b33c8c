// The identity-provision processor: one job per site and lower-cased email makes one account,
// however many mails asked for it. Every step is idempotent and its progress is kept in the
// job's data, so a crash anywhere resumes where it stopped:
//   user:     (re-look up if a create may already have happened) -> create user with products
//             -> add to each configured group ("already a member" is success)
//   customer: create customer ("exists" -> look it up) -> add to the service desk
// The cache learns the account at the end, and the mails waiting for it are promoted.
// A refused token surfaces as AuthError from the client: nothing is created from an
// anonymous answer, and the worker wrapper pauses the token's queues.
import type { Job } from 'bullmq';
import { identityProvision, mailInbound } from '../queues/catalog.js';
import { defineStation, type Station } from '../station/station.js';
import type { Processor } from '../station/worker.js';
import { identityContextOf, type IdentityContext } from './context.js';
import { ensureAccount } from './provision-account.js';
import { joinMemberships } from './provision-memberships.js';
import { openProvisionRun, type ProvisionPayload, type ProvisionRun } from './provision-run.js';
import { releaseWaiters } from './waiters.js';

export { answeredWithoutEffect } from './provision-account.js';
export { PROVISION_STATE_FIELD, type ProvisionPayload } from './provision-run.js';

export interface ProvisionResult {
  email: string;
  accountId: string;
  /** False when the account existed already (found, or "already exists"). */
  created: boolean;
  mode: 'user' | 'customer';
  groups?: number;
  serviceDeskId?: string;
}

export function createProvisioner(p: IdentityContext): Processor<ProvisionPayload> {
  return async (data, ctx) => {
    const run = await openProvisionRun(p, data, ctx);
    // 1. The account: found, or created exactly once.
    const accountId = await ensureAccount(run);
    // 2. Memberships. A permanent refusal (no such group) still leaves a usable account.
    await joinMemberships(run, accountId);
    // 3. Ready: the cache learns it, waiting mails go on.
    return accountReady(run, accountId);
  };
}

async function accountReady(run: ProvisionRun, accountId: string): Promise<ProvisionResult> {
  const { p, data, email, policy, state, base, audit } = run;
  state.step = 'done';
  // The cache learns the account before the waiting mails wake (they read it there); the saved
  // progress and the audit entry go out beside those two steps, not before them (issue #25).
  const [promoted] = await Promise.all([
    p.cache.learn(email, state.account ?? { accountId }).then(() => wakeMailsWaitingOn(p, email)),
    run.progress.save(state),
    audit.record({ ...base, step: 'account-ready', outcome: 'ok', detail: `${state.created ? 'created' : 'existing'} ${data.mode} ${accountId}` }),
  ]);
  run.ctx.log.info({ email, accountId, created: state.created, promoted }, 'account ready');
  const result: ProvisionResult = { email, accountId, created: !!state.created, mode: data.mode };
  if (data.mode === 'user') result.groups = policy.groups.length;
  else result.serviceDeskId = policy.serviceDeskId;
  return result;
}

function wakeMailsWaitingOn(p: IdentityContext, email: string): Promise<number> {
  return releaseWaiters(p.redis, p.prefix, p.site, email, (id) => p.jobs.job(mailInbound, id));
}

/** For the worker's `failed` event: once a provision job has failed for good, its mails go on without it. */
export async function onProvisionFailed(p: IdentityContext, job: Job | undefined): Promise<void> {
  if (!job) return;
  const state = await job.getState();
  if (state !== 'failed') return; // an attempt failed; BullMQ will retry it
  const data = job.data as Partial<ProvisionPayload>;
  if (!data.email) return;
  await p.audit.record({ email: data.email.toLowerCase(), mail: data.messageId, mailboxId: data.mailboxId, step: 'provision-failed', outcome: 'error', detail: job.failedReason });
  await wakeMailsWaitingOn(p, data.email);
}

// ---- The station: identity-provision, on the workaround token (src/station/station.ts) ----

export function provisionerStation(): Station {
  return defineStation({
    queue: identityProvision,
    needsToken: true,
    process(env) {
      const p = identityContextOf(env);
      return { processor: createProvisioner(p), release: () => p.jobs.close(), onFailed: (job) => onProvisionFailed(p, job) };
    },
  });
}
