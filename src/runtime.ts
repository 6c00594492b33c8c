// What every process entry shares: configuration loaded once, the root logger, Redis
// connections, and graceful shutdown. SIGTERM stops taking work, finishes or releases what is
// in hand, closes connections and exits; an unhandled rejection crashes loudly.
import { configPath, loadConfig, type Config } from './config/load.js';
import { ConfigError, describeError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { createRedis, type Redis } from './redis.js';
import { metrics } from './ops/metrics.js';
import { startMetricsPublisher } from './ops/metrics-share.js';
import { KEY_MISMATCH_EXIT, KeyMismatchError } from './token/key.js';

export interface Stoppable {
  stop(): Promise<void>;
}

export interface RoleContext {
  config: Config;
  logger: Logger;
  /** A new Redis connection for a worker or queue (BullMQ needs its own blocking connections). */
  redis(name: string): Redis;
}

export type RoleStarter = (ctx: RoleContext) => Promise<Stoppable>;

/** Grace period for in-flight work on SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 30_000;

export function createRoleContext(config: Config, logger: Logger): RoleContext & { closeAll(): Promise<void> } {
  const connections: Redis[] = [];
  return {
    config,
    logger,
    redis(name) {
      const r = createRedis(config.redisUrl, { forWorker: true, name: `mailroom-${name}` });
      connections.push(r);
      return r;
    },
    async closeAll() {
      await Promise.all(connections.map((r) => r.quit().catch(() => r.disconnect())));
    },
  };
}

/** Run one or more roles in this process until SIGTERM/SIGINT. */
export async function runRoles(roleName: string, starters: RoleStarter[], argv = process.argv.slice(2)): Promise<void> {
  const cfgFlag = argv.indexOf('--config');
  let config: Config;
  try {
    config = loadConfig(configPath(cfgFlag >= 0 ? argv[cfgFlag + 1] : undefined, process.env), process.env);
  } catch (e) {
    process.stderr.write((e instanceof ConfigError ? e.message : `mailroom ${roleName}: ${describeError(e)}`) + '\n');
    process.exit(2);
  }
  const logger = createLogger({ level: config.log.level, name: `mailroom-${roleName}` });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: describeError(reason) }, 'unhandled rejection: crashing');
    process.exit(70);
  });
  const ctx = createRoleContext(config, logger);
  // First, so a web role in this process finds it; stopped last (the list stops in reverse).
  // It carries this process's counters to the web role's /metrics (src/ops/metrics-share.ts).
  const running: Stoppable[] = [startMetricsPublisher({ redis: ctx.redis('metrics'), prefix: config.prefix, role: roleName, registry: metrics.registry })];
  try {
    for (const start of starters) running.push(await start(ctx));
  } catch (e) {
    logger.fatal({ err: describeError(e) }, 'could not start');
    if (e instanceof KeyMismatchError) {
      // Said on stderr too: whoever starts the process sees it without reading the logs.
      process.stderr.write(`mailroom ${roleName}: ${e.message}\n`);
      logger.flush();
      process.exit(KEY_MISMATCH_EXIT);
    }
    process.exit(1);
  }
  logger.info({ role: roleName, prefix: config.prefix }, 'started');
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing work in hand');
    const timer = setTimeout(() => {
      logger.error('shutdown grace period over: exiting with work in hand (it will be retried)');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    await Promise.allSettled(running.reverse().map((r) => r.stop()));
    await ctx.closeAll();
    logger.info('stopped');
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
