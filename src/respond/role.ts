// The respond stage runs in the notifier role, on its SMTP pool: the notifier role with the
// `respond` worker beside `notify`. roles/all.ts and workers/notifier.ts start this one.
import type { Worker } from 'bullmq';
import { metrics } from '../core/metrics.js';
import { notifierRole, type SmtpWorkers } from '../notify/role.js';
import { createAuditTrail } from '../queues/audit.js';
import { respond } from '../queues/catalog.js';
import type { RoleStarter } from '../queues/role.js';
import { startWorker, type WorkerDeps } from '../queues/worker.js';
import type { TokenRoleOptions } from '../token/worker-role.js';
import { createResponder, type ResponderDeps } from './responder.js';

/** The respond worker (mail to customers). */
export function startResponderWorker(deps: ResponderDeps, o: Omit<WorkerDeps, 'prefix'>): Worker {
  return startWorker(respond, createResponder(deps), { prefix: deps.prefix, ...o });
}

const respondWorkers: SmtpWorkers = ({ ctx: { config }, redis, token }, mailer) => {
  const byId = new Map(config.mailboxes.map((m) => [m.id, m]));
  const deps: ResponderDeps = {
    redis,
    prefix: config.prefix,
    mailer,
    mailbox: (id) => byId.get(id),
    smtpFrom: config.smtp!.from,
    site: config.jira.site,
    installId: config.prefix,
    jira: () => token.source.client(),
    audit: createAuditTrail({ redis, prefix: config.prefix }),
    metrics,
  };
  return [(w) => startResponderWorker(deps, w)];
};

/** The notifier role, also mailing customers (acknowledgements, agents' comments). */
export function notifierWithReplies(o: TokenRoleOptions = {}): RoleStarter {
  return notifierRole(o, respondWorkers);
}
