// What every process entry shares: configuration loaded once, the root logger, Redis
// connections, and graceful shutdown. SIGTERM stops taking work, finishes or releases what is
// in hand, closes connections and exits; an unhandled rejection crashes loudly.
import { configPath, envLogLevel, loadConfig, type Config } from '../config/load.js';
import { ConfigError, describeError } from '../core/errors.js';
import { createLogger, registerSecret, wantPretty, type Logger } from '../core/log.js';
import { routeConsole } from '../core/console-route.js';
import { createRedis, describeTarget, onQueueTwin, type Redis } from '../core/redis.js';
import { RedisOutage } from '../core/redis-outage.js';
import { checkRedisSettings } from '../core/redis-settings.js';
import { metrics } from '../core/metrics.js';
import { startMetricsPublisher } from '../ops/metrics-share.js';
import { checkStateLoss } from '../ops/state-loss.js';
import { SecretKeyError } from '../token/key.js';
import { WebAuthError } from '../web/auth.js';
import { EXIT } from '../core/exit-codes.js';
import { buildInfo, describeBuild } from '../core/build-info.js';
import { parseEntryArgs, type EntryArgs } from './entry-args.js';
import type { RoleContext, RoleStarter, Stoppable } from '../queues/role.js';

export type { RoleContext, RoleStarter, Stoppable } from '../queues/role.js';

/** Grace period for in-flight work on SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 30_000;
/** With Redis away, how long roles get to close what does not need Redis (IMAP, HTTP). */
const OUTAGE_STOP_MS = 500;

export function createRoleContext(config: Config, logger: Logger): RoleContext & { closeAll(): Promise<void> } {
  const connections: Redis[] = [];
  const redisOutage = new RedisOutage(logger, describeTarget(config.redis));
  const t = config.redis;
  if (t.form !== 'url') {
    registerSecret(t.password);
    if (t.form === 'sentinel') registerSecret(t.sentinelPassword);
  } else registerSecret(safePassword(t.url));
  return {
    config,
    logger,
    redisOutage,
    redis(name) {
      const r = createRedis(config.redis, { forWorker: true, name: `mailroom-${name}` });
      redisOutage.watch(r);
      connections.push(r);
      // BullMQ's queues on `r` run on a twin (core/redis.ts queueConnection): watched and closed alike.
      onQueueTwin(r, (twin) => {
        redisOutage.watch(twin);
        connections.push(twin);
      });
      return r;
    },
    async closeAll() {
      // QUIT waits for an answer: on a connection that is not up it would wait for Redis to
      // come back. Such a connection has nothing to flush; drop it.
      await Promise.all(connections.map((r) => (r.status === 'ready' ? r.quit().catch(() => r.disconnect()) : r.disconnect())));
    },
  };
}

/**
 * A configuration a role cannot start with: one log line (JSON for collectors) naming every
 * key path and what to do, then exit 2, the code for bad configuration.
 */
async function exitOnConfigError(logger: Logger, roleName: string, e: unknown): Promise<never> {
  const problems = e instanceof ConfigError ? e.problems : [{ path: '', message: describeError(e) }];
  const summary = problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ');
  logger.fatal({ role: roleName, problems }, `invalid configuration, not starting: ${summary}`);
  // The line must be out before the exit (the JSON destination writes asynchronously).
  await new Promise<void>((done) => logger.flush(() => done()));
  process.exit(EXIT.usage);
}

/**
 * A role entry's arguments (workers/*.ts): --help and --version answer and exit 0; an unknown
 * or malformed argument exits 2 with the usage, before anything connects.
 */
export function entryArgs(roleName: string, opts: { noAuth?: boolean } = {}, argv = process.argv.slice(2)): EntryArgs {
  const parsed = parseEntryArgs(roleName, argv, { noAuth: opts.noAuth, version: `mailroom ${roleName} ${describeBuild()}` });
  if ('run' in parsed) return parsed.run;
  if (parsed.stdout) process.stdout.write(parsed.stdout);
  if (parsed.stderr) process.stderr.write(parsed.stderr);
  process.exit(parsed.exit);
}

/** Run one or more roles in this process until SIGTERM/SIGINT. Raw arguments are parsed as a role entry's. */
export async function runRoles(roleName: string, starters: RoleStarter[], given: EntryArgs | readonly string[] = process.argv.slice(2)): Promise<void> {
  const args = Array.isArray(given) ? entryArgs(roleName, { noAuth: true }, given as string[]) : (given as EntryArgs);
  const pretty = args.pretty ?? wantPretty([]);
  let config: Config;
  try {
    config = loadConfig(configPath(args.config, process.env), process.env);
  } catch (e) {
    // Before a configuration there is no configured logger: log with the environment's level
    // (a refusal to start is said even at LOG_LEVEL=silent: it is fatal).
    const level = envLogLevel(process.env);
    return exitOnConfigError(createLogger({ level: level === 'silent' ? 'fatal' : level, name: `mailroom-${roleName}`, pretty }), roleName, e);
  }
  // One role per process (the Procfile): every line carries it, bound once (withRole).
  const single = !roleName.includes('+') && roleName !== 'all';
  const root = createLogger({ level: config.log.level, name: `mailroom-${roleName}`, pretty });
  const logger = single ? root.child({ role: roleName }) : root;
  routeConsole(logger);
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: describeError(reason) }, 'unhandled rejection: crashing');
    process.exit(EXIT.internal);
  });
  const ctx = createRoleContext(config, logger);
  // First, so a web role in this process finds it; stopped last (the list stops in reverse).
  // It carries this process's counters to the web role's /metrics (src/ops/metrics-share.ts).
  const running: Stoppable[] = [startMetricsPublisher({ redis: ctx.redis('metrics'), prefix: config.prefix, role: roleName, registry: metrics.registry })];
  try {
    for (const start of starters) running.push(await start(ctx));
  } catch (e) {
    if (e instanceof ConfigError) return exitOnConfigError(logger, roleName, e);
    logger.fatal({ err: describeError(e) }, 'could not start');
    if (e instanceof SecretKeyError || e instanceof WebAuthError) {
      // A missing, unreadable or wrong key, or a web role without credentials, is fixed by a
      // person, like a bad configuration: exit 2 (docs/exit-codes.md), so a unit file does not
      // restart it forever. Said on stderr too, for whoever starts the process.
      process.stderr.write(`mailroom ${roleName}: ${e.message}\n`);
      await new Promise<void>((done) => logger.flush(() => done()));
      process.exit(EXIT.usage);
    }
    process.exit(EXIT.failed);
  }
  const build = buildInfo();
  logger.info({ ...(single ? {} : { role: roleName }), prefix: config.prefix, redis: describeTarget(config.redis), version: build.version, commit: build.commit, node: build.node }, 'started');
  const checks = ctx.redis('settings-check');
  void checkRedisSettings(checks, logger);
  // A Redis that lost the install's state is said once, loudly (src/ops/state-loss.ts).
  void checkStateLoss(checks, config, logger).catch((e) => logger.warn({ err: describeError(e) }, 'could not check Redis for lost state'));
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing work in hand');
    const timer = setTimeout(() => {
      logger.error('shutdown grace period over: exiting with work in hand (it will be retried)');
      process.exit(EXIT.failed);
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    const stopped = Promise.allSettled(running.reverse().map((r) => r.stop()));
    if (ctx.redisOutage.current().down) {
      // Without Redis no job in hand can be finished or handed back (its lock lapses and
      // another worker takes it): closing would only wait for Redis. Drop the connections,
      // give the roles a moment to notice, and go.
      logger.info('redis is unreachable: nothing in hand can be finished, stopping now');
      await ctx.closeAll();
      await Promise.race([stopped, new Promise((r) => setTimeout(r, OUTAGE_STOP_MS).unref())]);
    } else {
      await stopped;
      await ctx.closeAll();
    }
    logger.info('stopped');
    logger.flush();
    process.exit(EXIT.ok);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

function safePassword(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}
