// The mail-inbound processor: finds a mail's people in Jira and waits, crash-safely, until the
// ones policy wants provisioned have accounts; then hands the mail to delivery.
//
// Progress lives in the job's data (`pipeline`, resolve-run.ts), so a re-run (after a crash, a
// promotion or a fallback re-check) continues where the last run stopped. A mail that must wait
// for a provision job registers itself as a waiter for that email and parks in the delayed set;
// the provisioner promotes it when the account is ready. Waiting spends no attempts.
import { unreadableVerdicts } from '../mail/sender-trust.js';
import { mailInbound } from '../queues/catalog.js';
import { defineStation, type Station } from '../station/station.js';
import type { Processor } from '../station/worker.js';
import { identityContextOf, type IdentityContext } from './context.js';
import { decideNewPeople } from './resolve-decide.js';
import { handToDelivery } from './resolve-deliver.js';
import { openRun, type MailInbound } from './resolve-run.js';
import { checkSender, firstState, settleClassified } from './resolve-screen.js';
import { awaitProvisioning } from './resolve-wait.js';

export { RESOLVE_STATE_FIELD, type MailInbound, type ResolveResult } from './resolve-run.js';

export function createResolver(p: IdentityContext): Processor<MailInbound> {
  return async (data, ctx) => {
    const run = openRun(p, data, ctx);
    const classified = await settleClassified(run);
    if (classified) return classified;
    const verdict = await checkSender(run);
    const state = run.progress.read() ?? (await firstState(run, verdict));
    // 1. Look up and decide, for everyone not decided yet.
    await decideNewPeople(run, state);
    // 2. Wait for provisioning, if any is still going on.
    await awaitProvisioning(run, state);
    // 3. Everyone is settled: on to delivery.
    return handToDelivery(run, state);
  };
}

// ---- The station: mail-inbound, on the workaround token (src/station/station.ts) ----------

export function resolverStation(): Station {
  return defineStation({
    queue: mailInbound,
    needsToken: true,
    process(env) {
      // Once per start, loudly: a mailbox whose senders can never be verified (docs/sender-verdicts.md).
      for (const w of unreadableVerdicts(env.ctx.config.mailboxes)) env.logger.warn({ check: 'sender-verdicts' }, w);
      const p = identityContextOf(env);
      // The queues the pipeline looked at jobs on close with it.
      return { processor: createResolver(p), release: () => p.jobs.close() };
    },
  });
}
