// The notifier role: the `notify` queue's worker, on the stored workaround token (behind the
// token gate: an AuthError pauses every token queue, this one included) and the configured
// SMTP server. workers/notifier.ts only calls runRoles().
import { withRole } from '../core/log.js';
import type { Worker } from 'bullmq';
import { requireSecrets, type Config } from '../config/load.js';
import { notify } from '../queues/catalog.js';
import { startWorker, type WorkerDeps } from '../queues/worker.js';
import type { RoleStarter } from '../queues/role.js';
import { tokenWorkerRole, type TokenRoleEnv, type TokenRoleOptions, type TokenRoleParts, type WorkerStarter } from '../token/worker-role.js';
import { createMailer, smtpTls, type Mailer } from './mailer.js';
import { smtpTokenSource } from '../oauth/tokens.js';
import { createNotifier, type NotifierDeps } from './notifier.js';

/** What must hold before the notifier can start; an empty list when it can. */
export function notifierConfigProblems(config: Pick<Config, 'smtp' | 'notifications'>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (!config.smtp) problems.push({ path: 'smtp', message: 'the notifier needs an smtp section (host, port, from)' });
  return problems;
}

/** The notify worker; its concurrency comes from the queue catalog unless `o` says otherwise. */
export function startNotifierWorker(deps: NotifierDeps, o: Omit<WorkerDeps, 'prefix'>): Worker {
  return startWorker(notify, createNotifier(deps), { prefix: deps.prefix, ...o });
}

/** More workers on the notifier's SMTP pool (the respond stage's, src/respond/role.ts). */
export type SmtpWorkers = (env: TokenRoleEnv, mailer: Mailer) => WorkerStarter[];

export function notifierRole(o: TokenRoleOptions = {}, more?: SmtpWorkers): RoleStarter {
  const role = tokenWorkerRole({ role: 'notifier', options: o, build: (env) => notifierParts(env, more) });
  return async (ctx) => {
    const logger = withRole(ctx.logger, 'notifier');
    const problems = notifierConfigProblems(ctx.config);
    if (problems.length) {
      // An install that only reads mail has no smtp section. Exiting would take a Procfile
      // stack down and a restart policy would loop it: idle, and say so once, the same in
      // the Procfile, `mailroom start` and docker-compose.
      logger.warn(
        { idle: true, problems },
        `notifier idle: no smtp section in the configuration, nothing will be sent (add smtp: host, port, from to send notifications)`,
      );
      return { stop: async () => undefined };
    }
    requireSecrets(ctx.config, 'notifier');
    return role(ctx);
  };
}

function notifierParts(env: TokenRoleEnv, more?: SmtpWorkers): TokenRoleParts {
  const { ctx: { config }, logger, redis, token } = env;
  const smtp = config.smtp!;
  const mailer = createMailer(smtp, config.secrets.smtpPassword, smtpTokenSource(config, { logger, redis }));
  const tls = smtpTls(smtp);
  if (tls.warning) logger.warn(tls.warning);
  else logger.info(tls.summary);
  const deps: NotifierDeps = {
    redis,
    prefix: config.prefix,
    jira: () => token.source.client(),
    mailer,
    from: smtp.from,
    bccBatchSize: smtp.bccBatchSize,
    site: config.jira.site,
    installId: config.prefix,
  };
  return {
    workers: [(w) => startNotifierWorker(deps, w), ...(more ? more(env, mailer) : [])],
    release: async () => mailer.close(),
  };
}
