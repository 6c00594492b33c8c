// The web role as a RoleStarter: resolves authentication (or refuses to start), builds the
// server on the configured host and port, and closes it on shutdown.
import { breakerCheck, breakerSource } from '../ops/project-breaker-health.js';
import { requireSecrets } from '../config/load.js';
import type { RoleStarter } from '../queues/role.js';
import type { ReadinessCheck } from '../ops/readiness.js';
import type { ScrapeSource } from '../core/metrics.js';
import { storeSizeSource } from '../ops/store-size.js';
import { heartbeatSource, imapMailboxIds, mailboxChecks, tokenCheck, tokenSource } from '../ops/health.js';
import { describeError } from '../core/errors.js';
import { jiraReachCheck, jiraReachSource } from '../jira/reach.js';
import { currentPublisher } from '../ops/metrics-share.js';
import type { RoleContext } from '../queues/role.js';
import { openTokenQueues } from '../token/gate.js';
import { loadSecretKey } from '../token/key.js';
import { jiraClientFactory } from '../token/runtime.js';
import { runTokenCheck } from '../token/watch.js';
import { resolveWebAuth } from './auth.js';
import { buildWebServer, BOARD_PATH } from './server.js';
import { ceilingCheck, ceilingSource } from '../ops/account-ceiling-health.js';

export interface WebRoleOptions {
  /** Allowed only on loopback: run without credentials. */
  noAuth?: boolean;
  /** Checks besides the built-in ones (Redis, token, each IMAP mailbox's heartbeat). */
  checks?: ReadinessCheck[];
  scrapeSources?: ScrapeSource[];
  /** How often a /readyz probe may check the token against Jira (default 15 s). */
  tokenProbeEveryMs?: number;
}

export function webRole(opts: WebRoleOptions = {}): RoleStarter {
  return async (ctx) => {
    const { config, logger } = ctx;
    // The webhook secret (when notifications are configured) verifies Jira's webhooks here.
    requireSecrets(config, 'web');
    const auth = resolveWebAuth(config.webAuth, { host: config.web.host, noAuth: opts.noAuth });
    const redis = ctx.redis('web');
    const mailboxes = imapMailboxIds(config);
    const probe = liveTokenProbe(ctx);
    const app = await buildWebServer({
      redis,
      prefix: config.prefix,
      logger,
      auth,
      readOnly: config.webAuth.readOnly,
      checks: [
        tokenCheck(redis, config.prefix, probe?.run, opts.tokenProbeEveryMs),
        jiraReachCheck(redis, config.prefix),
        ...mailboxChecks(redis, config.prefix, mailboxes),
        ceilingCheck(redis, config.prefix),
        breakerCheck(redis, config.prefix),
        ...(opts.checks ?? []),
      ],
      scrapeSources: [
        tokenSource(redis, config.prefix),
        jiraReachSource(redis, config.prefix),
        heartbeatSource(redis, config.prefix, mailboxes),
        ceilingSource(redis, config.prefix),
        breakerSource(redis, config.prefix),
        storeSizeSource(redis, config.prefix),
        ...(opts.scrapeSources ?? []),
      ],
      // Started through runRoles (Procfile, `mailroom start`): show every role's metrics.
      installMetrics: currentPublisher(),
      webhook: config.notifications
        ? { secret: config.secrets.webhookSecret, rules: config.notifications.rules, retry: config.queues, respondComments: config.mailboxes.some((m) => m.respond?.comments) }
        : undefined,
    });
    const address = await app.listen({ host: config.web.host, port: config.web.port });
    logger.info({ board: `${address}${BOARD_PATH}`, auth: auth.mode, readOnly: !!config.webAuth.readOnly }, 'web role listening');
    return {
      async stop() {
        await app.close();
        await probe?.close();
      },
    };
  };
}

/**
 * A live token check for /readyz, when this process has the token key (without it the web
 * role reports the token's state as the workers recorded it).
 */
function liveTokenProbe(ctx: RoleContext): { run: () => Promise<unknown>; close: () => Promise<void> } | undefined {
  const { config, logger } = ctx;
  if (!config.secretKey.base64 && !config.secretKey.file) return undefined;
  let secretKey;
  try {
    secretKey = loadSecretKey(config.secretKey);
  } catch (e) {
    logger.warn({ err: describeError(e) }, '/readyz reports the token as recorded: the key cannot be loaded here');
    return undefined;
  }
  const redis = ctx.redis('web-token');
  const queues = openTokenQueues(redis, config.prefix);
  const makeClient = jiraClientFactory(config, logger, redis);
  const deps = { redis, config, secretKey, logger, makeClient };
  return {
    // With Redis away the check would queue behind the reconnect and log, once Redis is back,
    // what it found before: the outage has its own line and /readyz its redis check.
    run: async () => (redis.status === 'ready' ? runTokenCheck(deps, queues) : undefined),
    close: async () => {
      await Promise.all(queues.map((q) => q.close()));
      await makeClient.close();
    },
  };
}
