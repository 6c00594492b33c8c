// The web role's HTTP server: Bull Board behind authentication, and the unauthenticated probe
// and scrape endpoints (/healthz, /readyz, /metrics) that orchestrators and Prometheus call.
//
//   /board  Bull Board over every Mailroom queue; admins act, viewers are sent to /view.
//   /view   the same board in read-only mode (viewers and admins).
//   /healthz the process is alive (no dependency is checked: restarting would not fix Redis).
//   /readyz every readiness check, as JSON; 503 when any fails.
//   /metrics Prometheus text format.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { withRole, type Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import { metrics as processMetrics, type Metrics, type ScrapeSource } from '../core/metrics.js';
import { queueCountsSource } from '../ops/queue-status.js';
import { closeQueues, openQueues, type OpsQueues } from '../ops/queue-status.js';
import { renderInstallMetrics, renderOwnMetrics, type MetricsPublisher } from '../ops/metrics-share.js';
import { scrapeRunner } from '../ops/scrape-sources.js';
import { withTimeout } from '../core/timeout.js';
import { redisCheck, runReadiness, type ReadinessCheck } from '../ops/readiness.js';
import { authenticate, type Role, type WebAuth } from './auth.js';
import { jiraWebhook, type JiraWebhookOptions } from './webhook.js';
import { fastifyTimeouts, harden, httpServerOptions } from './hardening.js';

export interface WebServerDeps {
  /** Connection for the board's queues and the Redis readiness check (owned by the caller). */
  redis: Redis;
  prefix: string;
  logger: Logger;
  auth: WebAuth;
  /** Checks besides Redis (token, mailbox heartbeats…), added by whoever starts the role. */
  checks?: ReadinessCheck[];
  /** Gauges refreshed before each scrape, besides queue counts. */
  scrapeSources?: ScrapeSource[];
  metrics?: Metrics;
  /** The whole board read-only, whoever signs in. */
  readOnly?: boolean;
  /**
   * Render every process's metrics (published to Redis, see src/ops/metrics-share.ts) with
   * role/instance labels, instead of this process's registry alone.
   */
  installMetrics?: MetricsPublisher;
  /** Queue names shown (default: every queue in the catalog). */
  queueNames?: readonly string[];
  /** POST /webhooks/jira (notification intake); absent = no webhook route. */
  webhook?: Omit<JiraWebhookOptions, 'redis' | 'keyPrefix'>;
}

// Prometheus scrapes time out at 10 s by default; a source that has not answered in 3 s (Redis
// gone, its commands queued until it returns) is left out so the scrape still answers.
const SCRAPE_TIMEOUT_MS = 3000;

// A PING on a healthy local Redis takes well under a millisecond; a second is an outage.
const REDIS_PING_MS = 1000;

/** Redis answers a PING now (a connection still reconnecting queues commands: that is down). */
async function redisAnswers(redis: Redis): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  return withTimeout(redis.ping(), REDIS_PING_MS, `redis ping: no answer within ${REDIS_PING_MS} ms`).then(
    () => true,
    () => false,
  );
}

export const BOARD_PATH = '/board';
export const VIEW_PATH = '/view';

export async function buildWebServer(deps: WebServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: withRole(deps.logger, 'web') as FastifyBaseLogger,
    // Probes and scrapes arrive every few seconds: logging each would drown what matters.
    logController: new LogController({ disableRequestLogging: true }),
    http: httpServerOptions(),
    ...fastifyTimeouts,
  });
  harden(app);
  const queues: OpsQueues = openQueues({ connection: deps.redis, prefix: deps.prefix, queueNames: deps.queueNames });
  app.addHook('onClose', async () => closeQueues(queues));
  // While Redis is away every reconnect attempt is an 'error' on every queue (openQueues drops
  // those echoes): the role's connection logs the outage once, and /readyz carries the news.
  const m = deps.metrics ?? processMetrics;
  const checks = [redisCheck(deps.redis), ...(deps.checks ?? [])];
  const collectSources = scrapeRunner([queueCountsSource(queues), ...(deps.scrapeSources ?? [])], app.log as Logger, SCRAPE_TIMEOUT_MS);

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const report = await runReadiness(checks);
    return reply.code(report.ready ? 200 : 503).send(report);
  });

  app.get('/metrics', async (_req, reply) => {
    // Redis first: without it every Redis-derived gauge (queues, heartbeats, token, other
    // processes' series) would be its last value served as current. Those are left out, and
    // mailroom_redis_up says why.
    const up = await redisAnswers(deps.redis);
    m.redisUp.set(up ? 1 : 0);
    // A source that fails alone is left out too (src/ops/scrape-sources.ts); /readyz says what is wrong.
    const omit = up ? await collectSources(m) : new Set<string>();
    const text = deps.installMetrics
      ? await withTimeout(renderInstallMetrics(deps.installMetrics, { redisUp: up, omit }), SCRAPE_TIMEOUT_MS, `process metrics: no answer within ${SCRAPE_TIMEOUT_MS} ms`).catch(() => renderOwnMetrics(m.registry, false))
      : await renderOwnMetrics(m.registry, up, omit);
    return reply.header('content-type', m.registry.contentType).send(text);
  });

  app.get('/', async (_req, reply) => reply.redirect(BOARD_PATH));

  if (deps.webhook) await app.register(jiraWebhook, { redis: deps.redis, keyPrefix: deps.prefix, ...deps.webhook });

  await app.register(async (scope) => {
    scope.addHook('onRequest', gate(deps.auth, 'admin', deps.readOnly));
    await mountBoard(scope, queues, BOARD_PATH, !!deps.readOnly);
  });
  await app.register(async (scope) => {
    scope.addHook('onRequest', gate(deps.auth, 'viewer', true));
    await mountBoard(scope, queues, VIEW_PATH, true);
  });
  return app;
}

async function mountBoard(scope: FastifyInstance, queues: OpsQueues, path: string, readOnlyMode: boolean): Promise<void> {
  const adapter = new FastifyAdapter();
  adapter.setBasePath(path);
  createBullBoard({
    queues: [...queues.byName.values()].map((q) => new BullMQAdapter(q, { readOnlyMode })),
    // @bull-board/fastify carries its own copy of @bull-board/api: same shape, separate declarations.
    serverAdapter: adapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: readOnlyMode ? 'Mailroom (read-only)' : 'Mailroom' } },
  });
  await scope.register(adapter.registerPlugin(), { prefix: path });
}

/**
 * The hook in front of a board. `needs` is the least role allowed; a viewer asking for the
 * admin board is redirected to the read-only one (GET) or refused (anything else).
 */
function gate(auth: WebAuth, needs: Role, readOnlyBoard: boolean | undefined) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const who = authenticate(auth, { headers: req.headers, remoteAddress: req.socket.remoteAddress });
    if (!who.ok) {
      if (auth.mode === 'basic') reply.header('www-authenticate', 'Basic realm="Mailroom", charset="UTF-8"');
      return reply.code(401).send({ error: 'unauthorized', detail: who.why });
    }
    // Belt and braces: a read-only board refuses anything but reads before bull-board sees it.
    if (readOnlyBoard && !['GET', 'HEAD'].includes(req.method)) {
      return reply.code(403).send({ error: 'forbidden', detail: 'this board is read-only' });
    }
    if (needs === 'admin' && who.role !== 'admin') {
      if (req.method === 'GET' || req.method === 'HEAD') return reply.redirect(VIEW_PATH + req.url.slice(BOARD_PATH.length));
      return reply.code(403).send({ error: 'forbidden', detail: `${who.user} may only view` });
    }
    return undefined;
  };
}
