// One stage's processor alone on its queue, on deps a test or a drill builds (a fake mailer,
// the simulator's client, short retries), without a role, a config or the token runtime.
// Production workers are stations (src/station/station.ts, each defined beside its processor)
// run by their roles; these start the same processors on the station layer's worker.
import { describeError } from '../../src/core/errors.js';
import { createDeliverer, type DelivererDeps } from '../../src/deliver/deliverer.js';
import type { IdentityContext } from '../../src/identity/context.js';
import { createProvisioner, onProvisionFailed } from '../../src/identity/provisioner.js';
import { createResolver } from '../../src/identity/resolver.js';
import { createNotifier, type NotifierDeps } from '../../src/notify/notifier.js';
import { identityProvision, jiraDeliver, mailInbound, notify, respond } from '../../src/queues/catalog.js';
import { createResponder, type ResponderDeps } from '../../src/respond/responder.js';
import { startWorker, type StationWorker, type WorkerDeps, type WorkerOptions } from '../../src/station/worker.js';

/** The mail-inbound worker alone, on a pipeline a test or drill builds. */
export function startResolverWorker(p: IdentityContext, o: WorkerOptions): StationWorker {
  return startWorker(mailInbound, createResolver(p), { prefix: p.prefix, retry: p.retry, ...o });
}

/** The identity-provision worker alone; a provision that fails for good wakes its mails, as the station's does. */
export function startProvisionerWorker(p: IdentityContext, o: WorkerOptions): StationWorker {
  const w = startWorker(identityProvision, createProvisioner(p), { prefix: p.prefix, retry: p.retry, ...o });
  w.on('failed', (job) => {
    onProvisionFailed(p, job).catch((e) => o.logger.warn({ err: describeError(e) }, 'could not release mails waiting on a failed provision job'));
  });
  return w;
}

/** The jira-deliver worker alone; settings from the queue catalog unless `o` says otherwise. */
export function startDelivererWorker(deps: DelivererDeps, o: WorkerOptions): StationWorker {
  return startWorker(jiraDeliver, createDeliverer(deps), { prefix: deps.prefix, retry: deps.retry, ...o });
}

/** The notify worker alone; concurrency from the queue catalog unless `o` says otherwise. */
export function startNotifierWorker(deps: NotifierDeps, o: Omit<WorkerDeps, 'prefix'>): StationWorker {
  return startWorker(notify, createNotifier(deps), { prefix: deps.prefix, ...o });
}

/** The respond worker alone. */
export function startResponderWorker(deps: ResponderDeps, o: Omit<WorkerDeps, 'prefix'>): StationWorker {
  return startWorker(respond, createResponder(deps), { prefix: deps.prefix, ...o });
}
