// For commands that read queues: the context's Redis connection, once it has answered a PING,
// so an unreachable Redis fails with exit 3 and one clear line rather than hanging.
import type { Redis } from '../redis.js';
import type { CliContext } from './context.js';
import { maskRedisUrl } from '../config/load.js';
import { CliError, EXIT } from './output.js';

export async function reachRedis(ctx: CliContext, timeoutMs = 5000): Promise<Redis> {
  const config = ctx.config();
  const redis = ctx.redis();
  // ioredis reports each failed reconnect as an 'error' event; the PING below says it once.
  if (!redis.listenerCount('error')) redis.on('error', () => undefined);
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs).unref()),
    ]);
  } catch (e) {
    throw new CliError(`cannot reach Redis at ${maskRedisUrl(config.redisUrl)}: ${(e as Error).message}`, EXIT.unavailable);
  }
  return redis;
}
