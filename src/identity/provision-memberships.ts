// Step 2 of a provision: a user joins each configured group ("already a member" is success), a
// customer joins the service desk. Progress is saved after each, so a retry skips what is done.
// A permanent refusal (no such group) still leaves a usable account: the cache learns it.
import { NotFoundError, PermanentError, describeError } from '../core/errors.js';
import { UserNotFoundYetError } from '../jira/errors.js';
import type { ProvisionRun } from './provision-run.js';

/**
 * How long a just-created account may be unknown to group membership ("user not found"): on
 * organizations with centralized user management a new account reaches Jira's user directory
 * after a delay. Ten minutes covers what is seen in practice; past it the job fails naming the user.
 */
export const USER_PROPAGATION_MS = 10 * 60_000;

export async function joinMemberships(run: ProvisionRun, accountId: string): Promise<void> {
  const { p, data, email, state, base, audit } = run;
  try {
    if (data.mode === 'user') await joinGroups(run, accountId);
    else if (!state.serviceDeskDone) await joinServiceDesk(run, accountId);
  } catch (err) {
    if (err instanceof PermanentError) {
      await p.cache.learn(email, state.account ?? { accountId });
      await audit.record({ ...base, step: data.mode === 'user' ? 'add-to-group' : 'add-to-service-desk', outcome: 'error', jira: describeError(err) });
    }
    throw err;
  }
}

async function joinGroups(run: ProvisionRun, accountId: string): Promise<void> {
  const { data, policy, client, state, base, audit } = run;
  for (let i = state.groupsDone; i < policy.groups.length; i++) {
    const g = policy.groups[i]! as { name?: string; groupId?: string };
    const r = await client.addUserToGroup({ accountId, ...(g.groupId ? { groupId: g.groupId } : { groupName: g.name }) }).catch(async (e: unknown) => {
      // Jira's own words name no group: say which one, and where it is configured.
      if (e instanceof NotFoundError) throw new NotFoundError(`${e.message} [mailbox "${data.mailboxId}" policy.groups[${i}]]`);
      if (e instanceof UserNotFoundYetError) return userNotFoundYet(run, e, g.groupId ?? g.name ?? '?');
      throw e;
    });
    state.groupsDone = i + 1;
    // Independent writes, together: a new sender's mail waits on this job (issue #25).
    await Promise.all([audit.record({ ...base, step: 'add-to-group', outcome: r, detail: g.groupId ?? g.name }), run.progress.save(state)]);
  }
}

/** How soon a group add is tried again after "user not found": 1 s, doubling with the wait so far, at most a minute. */
export const USER_RECHECK_MIN_MS = 1_000;
export const USER_RECHECK_MAX_MS = 60_000;

/**
 * A just-created account Jira does not know yet: the job parks (no attempt spent, no "job
 * failed" warning: this is waiting, not failing) and tries again after about as long as it has
 * waited so far; past the bound, it fails for good naming the user.
 */
async function userNotFoundYet(run: ProvisionRun, e: UserNotFoundYetError, group: string): Promise<never> {
  const { p, state, email, ctx } = run;
  const now = Date.now();
  state.userMissingSince ??= now;
  await run.progress.save(state);
  const waited = now - state.userMissingSince;
  const bound = p.userPropagationMs ?? USER_PROPAGATION_MS;
  if (waited >= bound) {
    throw new PermanentError(
      `Jira still does not know the user ${email} (accountId ${e.accountId}) when adding it to group ${group}, ${Math.round(waited / 1000)} s after it was first refused: ` +
        'check the account in admin.atlassian.com (it may have been deleted, or not be managed by this site), then run the mail again',
    );
  }
  const recheck = Math.min(USER_RECHECK_MAX_MS, Math.max(USER_RECHECK_MIN_MS, waited), bound - waited);
  return ctx.park(now + recheck, `Jira does not know the just-created user ${e.accountId} yet (group ${group}); trying again`);
}

async function joinServiceDesk(run: ProvisionRun, accountId: string): Promise<void> {
  const { policy, client, state, base, audit } = run;
  await client.addCustomersToServiceDesk(policy.serviceDeskId!, [accountId]);
  await audit.record({ ...base, step: 'add-to-service-desk', outcome: 'added', detail: `service desk ${policy.serviceDeskId}` });
  state.serviceDeskDone = true;
  await run.progress.save(state);
}
