// What every CLI command needs: the configuration (loaded once from --config / MAILROOM_CONFIG
// / ./mailroom.yml) and, for commands that touch Redis, a connection closed on exit.
import type { Command } from 'commander';
import { configPath, loadConfig, type Config } from '../config/load.js';
import { describeError } from '../core/errors.js';
import { COMMAND_TIMED_OUT, createRedis, describeTarget, type Redis } from '../core/redis.js';

/**
 * A CLI command gives Redis this long to answer before it stops reconnecting and fails every
 * pending command: with the exit path, well inside the 5 s an operator or a script waits.
 */
export const CLI_REDIS_GIVE_UP_MS = 2500;
/** How long the CLI waits for QUIT's answer at exit before dropping the connection. */
const QUIT_WAIT_MS = 500;
/** How long a CLI command waits for one Redis answer once connected (a healthy Redis answers any of them far sooner). */
export const CLI_REDIS_COMMAND_TIMEOUT_MS = 10_000;

export interface RedisFailure {
  /** The Redis the command tried, masked (form and nodes, never a password). */
  target: string;
  /** Why, in one line: the last connection error. */
  cause: string;
}

export interface CliContext {
  config(): Config;
  redis(): Redis;
  /**
   * Set when the command's Redis connection gave up, or when `err` (what the command threw) is a
   * Redis answer that never came: what to say instead of a stack.
   */
  redisFailure(err?: unknown): RedisFailure | undefined;
  close(): Promise<void>;
}

export function createContext(program: Command): CliContext {
  let config: Config | undefined;
  let redis: Redis | undefined;
  let lastError: unknown;
  let gaveUp = false;
  return {
    config() {
      config ??= loadConfig(configPath(program.opts<{ config?: string }>().config, process.env), process.env);
      return config;
    },
    redis() {
      if (!redis) {
        const r = createRedis(this.config().redis, { name: 'mailroom-cli', giveUpAfterMs: CLI_REDIS_GIVE_UP_MS, commandTimeoutMs: CLI_REDIS_COMMAND_TIMEOUT_MS });
        // ioredis reports each failed reconnect as an 'error' event; the CLI says it once, at exit.
        r.on('error', (e: unknown) => (lastError = e));
        r.on('ready', () => (lastError = undefined));
        r.on('end', () => (gaveUp = lastError !== undefined));
        redis = r;
      }
      return redis;
    },
    redisFailure(err) {
      if (redis && config && timedOut(err)) {
        return { target: describeTarget(config.redis), cause: `no answer within ${CLI_REDIS_COMMAND_TIMEOUT_MS / 1000} s to a command (the connection is up, the node holding the keys is not answering)` };
      }
      // A connection that gave up, or is still not up, or that ended under the command (ioredis
      // fails what it held with these words), explains a failed command.
      if (!redis || !config || (!gaveUp && !connectionLost(err) && (lastError === undefined || redis.status === 'ready'))) return undefined;
      return { target: describeTarget(config.redis), cause: lastError !== undefined ? oneLine(describeError(lastError)) : connectionLost(err) ? oneLine((err as Error).message) : 'connection closed' };
    },
    async close() {
      if (!redis) return;
      // QUIT on a connection that is not up would wait in the offline queue: just drop it. A
      // node that stopped answering would hold QUIT for the command timeout: it gets a moment.
      if (redis.status === 'ready') await Promise.race([redis.quit(), new Promise((r) => setTimeout(r, QUIT_WAIT_MS).unref())]).catch(() => undefined);
      if (redis.status !== 'end') redis.disconnect();
    },
  };
}

function oneLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

/** An ioredis command timeout, however deep in `cause` chains a command wrapped it. */
function timedOut(e: unknown): boolean {
  for (let c = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) if (c.message === COMMAND_TIMED_OUT) return true;
  return false;
}

/** ioredis's words for a command failed because its connection (or every Cluster node) went. */
function connectionLost(e: unknown): boolean {
  return e instanceof Error && /^(Connection is closed\.|None of startup nodes is available|Failed to refresh slots cache\.)/.test(e.message);
}
