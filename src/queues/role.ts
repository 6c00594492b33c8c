// What a role is: the part of the install's work one process takes on (the poller, the
// resolver, ...), started with what every process shares and stopped on SIGTERM. The runner
// that builds the context and handles signals is src/roles/runtime.ts.
import type { Config } from '../config/load.js';
import type { Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import type { RedisOutage } from '../core/redis-outage.js';

export interface Stoppable {
  stop(): Promise<void>;
}

export interface RoleContext {
  config: Config;
  logger: Logger;
  /** A new Redis connection for a worker or queue (BullMQ needs its own blocking connections). */
  redis(name: string): Redis;
  /** Whether Redis is away right now, as this process's connections see it (for /readyz). */
  redisOutage: RedisOutage;
}

export type RoleStarter = (ctx: RoleContext) => Promise<Stoppable>;
