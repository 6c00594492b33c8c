// The web role as a RoleStarter: resolves authentication (or refuses to start), builds the
// server on the configured host and port, and closes it on shutdown.
import type { RoleStarter } from '../runtime.js';
import type { ReadinessCheck } from '../ops/readiness.js';
import type { ScrapeSource } from '../ops/metrics.js';
import { heartbeatSource, imapMailboxIds, mailboxChecks, tokenCheck, tokenSource } from '../ops/health.js';
import { resolveWebAuth } from './auth.js';
import { buildWebServer, BOARD_PATH } from './server.js';

export interface WebRoleOptions {
  /** Allowed only on loopback: run without credentials. */
  noAuth?: boolean;
  /** Checks besides the built-in ones (Redis, token, each IMAP mailbox's heartbeat). */
  checks?: ReadinessCheck[];
  scrapeSources?: ScrapeSource[];
}

export function webRole(opts: WebRoleOptions = {}): RoleStarter {
  return async (ctx) => {
    const { config, logger } = ctx;
    const auth = resolveWebAuth(config.webAuth, { host: config.web.host, noAuth: opts.noAuth });
    const redis = ctx.redis('web');
    const mailboxes = imapMailboxIds(config);
    const app = await buildWebServer({
      redis,
      prefix: config.prefix,
      logger,
      auth,
      readOnly: config.webAuth.readOnly,
      checks: [tokenCheck(redis, config.prefix), ...mailboxChecks(redis, config.prefix, mailboxes), ...(opts.checks ?? [])],
      scrapeSources: [tokenSource(redis, config.prefix), heartbeatSource(redis, config.prefix, mailboxes), ...(opts.scrapeSources ?? [])],
      webhook: config.notifications ? { secret: config.secrets.webhookSecret, rules: config.notifications.rules, retry: config.queues } : undefined,
    });
    const address = await app.listen({ host: config.web.host, port: config.web.port });
    logger.info({ board: `${address}${BOARD_PATH}`, auth: auth.mode, readOnly: !!config.webAuth.readOnly }, 'web role listening');
    return { stop: () => app.close() };
  };
}
