// The notifier role: the `notify` queue's worker, on the stored workaround token (behind the
// token gate: an AuthError pauses every token queue, this one included) and the configured
// SMTP server. workers/notifier.ts only calls runRoles().
import type { Worker } from 'bullmq';
import { requireSecrets, type Config } from '../config/load.js';
import type { Logger } from '../core/log.js';
import { notify } from '../queues/catalog.js';
import { startWorker } from '../queues/worker.js';
import type { Redis } from '../core/redis.js';
import type { RoleStarter } from '../queues/role.js';
import { openTokenQueues } from '../token/gate.js';
import { openTokenRuntime } from '../token/runtime.js';
import { createMailer, smtpTls, type Mailer } from './mailer.js';
import { smtpTokenSource } from '../oauth/tokens.js';
import { createNotifier, type NotifierDeps } from './notifier.js';

/**
 * Notify jobs spend their time waiting on SMTP; a few at once keep a big group from holding up
 * the next issue, while each job already sends over 3 pooled connections.
 */
export const NOTIFIER_CONCURRENCY = 4;

/** What must hold before the notifier can start; an empty list when it can. */
export function notifierConfigProblems(config: Pick<Config, 'smtp' | 'notifications'>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (!config.smtp) problems.push({ path: 'smtp', message: 'the notifier needs an smtp section (host, port, from)' });
  return problems;
}

export interface NotifierWorkerDeps extends Omit<NotifierDeps, 'mailer'> {
  mailer: Mailer;
  connection: Redis;
  logger: Logger;
  concurrency?: number;
  onAuthError?: Parameters<typeof startWorker>[2]['onAuthError'];
  rateLimitQueues?: Parameters<typeof startWorker>[2]['rateLimitQueues'];
  retry?: Config['queues'];
  lockDuration?: number;
}

export function startNotifierWorker(deps: NotifierWorkerDeps): Worker {
  return startWorker(notify, createNotifier(deps), {
    connection: deps.connection,
    prefix: deps.prefix,
    logger: deps.logger,
    concurrency: deps.concurrency ?? NOTIFIER_CONCURRENCY,
    retry: deps.retry,
    onAuthError: deps.onAuthError,
    rateLimitQueues: deps.rateLimitQueues,
    lockDuration: deps.lockDuration,
  });
}

export function notifierRole(): RoleStarter {
  return async (ctx) => {
    const { config } = ctx;
    const logger = ctx.logger.child({ role: 'notifier' });
    const problems = notifierConfigProblems(config);
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
    requireSecrets(config, 'notifier');
    const redis = ctx.redis('notifier-keys');
    const token = await openTokenRuntime({ connection: redis, config, logger, watch: true });
    const tokenQueues = openTokenQueues(redis, config.prefix);
    const mailer = createMailer(config.smtp, config.secrets.smtpPassword, smtpTokenSource(config, { logger, redis }));
    const tls = smtpTls(config.smtp!);
    if (tls.warning) logger.warn(tls.warning);
    else logger.info(tls.summary);
    const worker = startNotifierWorker({
      redis,
      prefix: config.prefix,
      jira: () => token.source.client(),
      mailer,
      from: config.smtp!.from,
      bccBatchSize: config.smtp!.bccBatchSize,
      site: config.jira.site,
      installId: config.prefix,
      connection: ctx.redis('notifier'),
      logger,
      onAuthError: token.onAuthError,
      rateLimitQueues: tokenQueues,
      retry: config.queues,
    });
    return {
      async stop() {
        await worker.close();
        mailer.close();
        await token.close();
        await Promise.all(tokenQueues.map((q) => q.close()));
      },
    };
  };
}
