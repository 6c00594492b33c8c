// Step 2 of a resolve: wait, crash-safely, for the people being provisioned. A mail still
// waiting registers itself as a waiter for each email and parks in the delayed set; the
// provisioner promotes it when the account is ready. Waiting spends no attempts.
import { identityProvision } from '../queues/catalog.js';
import { tell, waitingProgress } from '../queues/story.js';
import { provisionRequest, type PersonState, type ResolveRun, type ResolveState } from './resolve-run.js';
import { recheckDelay, registerWaiter } from './waiters.js';

/** Settle whoever is pending; the mail parks while anyone still is. */
export async function awaitProvisioning(run: ResolveRun, state: ResolveState): Promise<void> {
  const { p, ctx } = run;
  const pending = () => state.people.filter((x) => x.status === 'pending');
  if (!pending().length) return;
  await Promise.all(pending().map((x) => checkPending(run, x)));
  if (pending().length) {
    await Promise.all(pending().map((x) => registerWaiter(p.redis, p.prefix, p.site, x.email, String(ctx.job.id))));
    // The provisioner may have finished between our check and our registration.
    await Promise.all(pending().map((x) => checkPending(run, x)));
  }
  if (pending().length) await park(run, state, pending());
  await run.progress.save(state);
  if (state.passes > 0) await ctx.job.updateProgress(0); // waiting is over
}

async function park(run: ResolveRun, state: ResolveState, pending: PersonState[]): Promise<never> {
  const { job } = run.ctx;
  const waitingFor = pending.map((x) => x.email).join(', ');
  state.passes++;
  await run.progress.save(state);
  if (state.passes === 1) {
    await run.audit.record({ ...run.base, step: 'waiting', outcome: 'waiting', detail: `for ${waitingFor}` });
  }
  // On the board: a mail waiting for its people, told apart from a retry backoff.
  const recheckAt = Date.now() + recheckDelay(state.passes);
  await job.updateProgress({ ...waitingProgress(`the Jira account of ${waitingFor} (being provisioned)`, recheckAt), for: pending.map((x) => x.email) });
  if (state.passes === 1) await tell(job, `waiting for the Jira account of ${waitingFor}: not a retry, no attempt spent; the provisioner wakes this mail when it is ready`);
  return run.ctx.park(recheckAt, `waiting for the Jira account of ${waitingFor}`);
}

/** The account is cached, or its provision job failed, finished, or is gone (then asked for again). */
async function checkPending(run: ResolveRun, person: PersonState): Promise<void> {
  const { p, data, base, audit } = run;
  const entry = await p.cache.peek(person.email);
  if (entry?.found) {
    Object.assign(person, { status: 'provisioned', accountId: entry.account.accountId });
    return;
  }
  const mode = person.mode ?? 'user';
  const jobId = identityProvision.jobId({ site: p.site, email: person.email, mode, mailboxId: data.mailboxId });
  const js = await p.jobs.state(identityProvision, jobId);
  if (js === 'failed') {
    const failed = await p.jobs.job(identityProvision, jobId);
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
    await run.ctx.add(identityProvision, provisionRequest(run, person, mode));
  }
}
