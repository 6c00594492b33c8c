// What every CLI command needs: the configuration (loaded once from --config / MAILROOM_CONFIG
// / ./mailroom.yml) and, for commands that touch Redis, a connection closed on exit.
import type { Command } from 'commander';
import { configPath, loadConfig, type Config } from '../config/load.js';
import { createRedis, type Redis } from '../redis.js';

export interface CliContext {
  config(): Config;
  redis(): Redis;
  close(): Promise<void>;
}

export function createContext(program: Command): CliContext {
  let config: Config | undefined;
  let redis: Redis | undefined;
  return {
    config() {
      config ??= loadConfig(configPath(program.opts<{ config?: string }>().config, process.env), process.env);
      return config;
    },
    redis() {
      redis ??= createRedis(this.config().redisUrl, { name: 'mailroom-cli' });
      return redis;
    },
    async close() {
      if (redis) await redis.quit().catch(() => redis?.disconnect());
    },
  };
}
