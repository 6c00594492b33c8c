// The identity-provision processor: one job per site and lower-cased email makes one account,
// however many mails asked for it. Every step is idempotent and its progress is kept in the
// job's data, so a crash anywhere resumes where it stopped:
//   user:     (re-look up if a create may already have happened) -> create user with products
//             -> add to each configured group ("already a member" is success)
//   customer: create customer ("exists" -> look it up) -> add to the service desk
// The cache learns the account at the end, and the mails waiting for it are promoted.
// A refused token surfaces as AuthError from the client: nothing is created from an
// anonymous answer, and the worker wrapper pauses the token's queues.
import type { Job, Queue } from 'bullmq';
import type { z } from 'zod';
import { NotFoundError, PermanentError, RateLimitedError, RetryableError, describeError } from '../core/errors.js';
import { AlreadyExistsError, JiraServerError } from '../jira/errors.js';
import type { JiraAccount } from '../jira/types.js';
import type { identityProvision } from '../queues/catalog.js';
import type { Processor, ProcessorContext } from '../queues/worker.js';
import { toCached, type CachedAccount } from './cache.js';
import type { Pipeline } from './context.js';
import { displayNameFor } from './policy.js';
import type { AuditInput } from '../queues/audit.js';
import { auditLine, tell } from '../queues/story.js';
import { releaseWaiters } from './waiters.js';
import { metrics } from '../core/metrics.js';

export type ProvisionPayload = z.infer<typeof identityProvision.payload>;

type Step = 'start' | 'creating' | 'memberships' | 'done';

interface ProvisionState {
  v: 1;
  step: Step;
  accountId?: string;
  account?: CachedAccount;
  created?: boolean;
  /** Groups (by index in the policy) already joined. */
  groupsDone: number;
  serviceDeskDone?: boolean;
}

export interface ProvisionResult {
  email: string;
  accountId: string;
  /** False when the account existed already (found, or "already exists"). */
  created: boolean;
  mode: 'user' | 'customer';
  groups?: number;
  serviceDeskId?: string;
}

export const PROVISION_STATE_FIELD = 'provision';

function readState(data: unknown): ProvisionState | undefined {
  const s = (data as Record<string, unknown> | undefined)?.[PROVISION_STATE_FIELD] as ProvisionState | undefined;
  return s && s.v === 1 && typeof s.step === 'string' ? s : undefined;
}

async function saveState(ctx: ProcessorContext, state: ProvisionState): Promise<void> {
  await ctx.job.updateData({ ...(ctx.job.data as Record<string, unknown>), [PROVISION_STATE_FIELD]: state });
}

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

function summary(a: JiraAccount): string {
  return `accountId ${a.accountId} (${a.accountType})`;
}

export function createProvisioner(p: Pipeline, mailQueue: Queue): Processor<ProvisionPayload> {
  return async (data, ctx) => {
    const email = data.email.trim().toLowerCase();
    if (data.site !== p.site) throw new PermanentError(`provision job for site ${data.site}, but this worker serves ${p.site}`);
    const mailbox = p.mailbox(data.mailboxId);
    if (!mailbox) throw new PermanentError(`provision job for mailbox "${data.mailboxId}", which is not in the configuration`);
    const policy = mailbox.policy;
    if (data.mode === 'customer' && !policy.serviceDeskId) {
      throw new PermanentError(`mailbox "${data.mailboxId}" auto-creates customers but has no policy.serviceDeskId`);
    }
    // Every audit entry is also a line in the job's log tab on the board.
    const audit = { record: async (ev: AuditInput) => void (await Promise.all([p.audit.record(ev), tell(ctx.job, auditLine(ev))])) };
    const { client, account: tokenAccount } = await p.jira();
    const base = { email, mail: data.messageId, mailboxId: data.mailboxId, tokenAccount };
    const state: ProvisionState = readState(ctx.job.data) ?? { v: 1, step: 'start', groupsDone: 0 };

    // 1. The account: found, or created exactly once.
    if (!state.accountId) {
      const known = await p.cache.peek(email);
      let found: CachedAccount | undefined = known?.found ? known.account : undefined;
      if (!found && state.step === 'creating') {
        // An earlier run asked Jira to create and did not hear back: it may have worked.
        const e = await p.cache.refresh(email);
        if (e.found) found = e.account;
        await audit.record({ ...base, step: 'lookup-before-create', outcome: e.found ? 'found' : 'not-found', jira: e.found ? `accountId ${e.account.accountId}` : 'no account with this email' });
      }
      if (found) {
        Object.assign(state, { accountId: found.accountId, account: found, created: false });
      } else {
        state.step = 'creating';
        await saveState(ctx, state);
        const displayName = displayNameFor(email, data.displayName);
        let made: JiraAccount | 'exists';
        try {
          made = data.mode === 'user'
            ? await client.createUser({ emailAddress: email, displayName, products: policy.products })
            : await client.createCustomer({ email, displayName });
        } catch (err) {
          if (err instanceof AlreadyExistsError) made = 'exists';
          else {
            await audit.record({ ...base, step: data.mode === 'user' ? 'create-user' : 'create-customer', outcome: 'error', jira: describeError(err) });
            if (answeredWithoutEffect(err)) {
              state.step = 'start';
              await saveState(ctx, state);
            }
            throw err;
          }
        }
        const step = data.mode === 'user' ? 'create-user' : 'create-customer';
        if (made === 'exists') {
          await audit.record({ ...base, step, outcome: 'exists', jira: 'already exists: looking it up' });
          const e = await p.cache.refresh(email);
          if (!e.found) throw new RetryableError(`Jira says ${email} exists, but the user search does not find it yet`);
          Object.assign(state, { accountId: e.account.accountId, account: e.account, created: false });
        } else {
          await audit.record({ ...base, step, outcome: 'created', jira: summary(made) });
          metrics.accountsCreated.inc({ mode: data.mode });
          Object.assign(state, { accountId: made.accountId, account: toCached(made), created: true });
        }
      }
      state.step = 'memberships';
      await saveState(ctx, state);
    }
    const accountId = state.accountId!;

    // 2. Memberships. A permanent refusal (no such group) still leaves a usable account.
    try {
      if (data.mode === 'user') {
        for (let i = state.groupsDone; i < policy.groups.length; i++) {
          const g = policy.groups[i]! as { name?: string; groupId?: string };
          const r = await client.addUserToGroup({ accountId, ...(g.groupId ? { groupId: g.groupId } : { groupName: g.name }) }).catch((e: unknown) => {
            // Jira's own words name no group: say which one, and where it is configured.
            if (e instanceof NotFoundError) throw new NotFoundError(`${e.message} [mailbox "${data.mailboxId}" policy.groups[${i}]]`);
            throw e;
          });
          await audit.record({ ...base, step: 'add-to-group', outcome: r, detail: g.groupId ?? g.name });
          state.groupsDone = i + 1;
          await saveState(ctx, state);
        }
      } else if (!state.serviceDeskDone) {
        await client.addCustomersToServiceDesk(policy.serviceDeskId!, [accountId]);
        await audit.record({ ...base, step: 'add-to-service-desk', outcome: 'added', detail: `service desk ${policy.serviceDeskId}` });
        state.serviceDeskDone = true;
        await saveState(ctx, state);
      }
    } catch (err) {
      if (err instanceof PermanentError) {
        await p.cache.learn(email, state.account ?? { accountId });
        await audit.record({ ...base, step: data.mode === 'user' ? 'add-to-group' : 'add-to-service-desk', outcome: 'error', jira: describeError(err) });
      }
      throw err;
    }

    // 3. Ready: the cache learns it, waiting mails go on.
    state.step = 'done';
    await saveState(ctx, state);
    await p.cache.learn(email, state.account ?? { accountId });
    await audit.record({ ...base, step: 'account-ready', outcome: 'ok', detail: `${state.created ? 'created' : 'existing'} ${data.mode} ${accountId}` });
    const promoted = await releaseWaiters(p.redis, p.prefix, p.site, email, mailQueue);
    ctx.log.info({ email, accountId, created: state.created, promoted }, 'account ready');
    const result: ProvisionResult = { email, accountId, created: !!state.created, mode: data.mode };
    if (data.mode === 'user') result.groups = policy.groups.length;
    else result.serviceDeskId = policy.serviceDeskId;
    return result;
  };
}

/** For the worker's `failed` event: once a provision job has failed for good, its mails go on without it. */
export async function onProvisionFailed(p: Pipeline, mailQueue: Queue, job: Job | undefined): Promise<void> {
  if (!job) return;
  const state = await job.getState();
  if (state !== 'failed') return; // an attempt failed; BullMQ will retry it
  const data = job.data as Partial<ProvisionPayload>;
  if (!data.email) return;
  await p.audit.record({ email: data.email.toLowerCase(), mail: data.messageId, mailboxId: data.mailboxId, step: 'provision-failed', outcome: 'error', detail: job.failedReason });
  await releaseWaiters(p.redis, p.prefix, p.site, data.email, mailQueue);
}
