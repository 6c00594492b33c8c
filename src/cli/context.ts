// What every CLI command needs: the configuration (loaded once from --config / MAILROOM_CONFIG
// / ./mailroom.yml) and, for commands that touch Redis, a connection closed on exit.
import type { Command } from 'commander';
import { configPath, loadConfig, type Config } from '../config/load.js';
import { describeError } from '../core/errors.js';
import { createRedis, describeTarget, type Redis } from '../core/redis.js';

/**
 * A CLI command gives Redis this long to answer before it stops reconnecting and fails every
 * pending command: with the exit path, well inside the 5 s an operator or a script waits.
 */
export const CLI_REDIS_GIVE_UP_MS = 2500;

export interface RedisFailure {
  /** The Redis the command tried, masked (form and nodes, never a password). */
  target: string;
  /** Why, in one line: the last connection error. */
  cause: string;
}

export interface CliContext {
  config(): Config;
  redis(): Redis;
  /** Set when the command's Redis connection gave up: what to say instead of a stack. */
  redisFailure(): RedisFailure | undefined;
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
        const r = createRedis(this.config().redis, { name: 'mailroom-cli', giveUpAfterMs: CLI_REDIS_GIVE_UP_MS });
        // ioredis reports each failed reconnect as an 'error' event; the CLI says it once, at exit.
        r.on('error', (e: unknown) => (lastError = e));
        r.on('ready', () => (lastError = undefined));
        r.on('end', () => (gaveUp = lastError !== undefined));
        redis = r;
      }
      return redis;
    },
    redisFailure() {
      // Only a connection that gave up, or is still not up, explains a failed command.
      if (!redis || !config || (!gaveUp && (lastError === undefined || redis.status === 'ready'))) return undefined;
      return { target: describeTarget(config.redis), cause: lastError === undefined ? 'connection closed' : oneLine(describeError(lastError)) };
    },
    async close() {
      if (!redis) return;
      // QUIT on a connection that is not up would wait in the offline queue: just drop it.
      if (redis.status === 'ready') await redis.quit().catch(() => redis?.disconnect());
      else redis.disconnect();
    },
  };
}

function oneLine(s: string): string {
  return s.split('\n')[0]!.trim();
}
