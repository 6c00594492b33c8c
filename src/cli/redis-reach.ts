// For commands that read queues: the context's Redis connection, once the node that holds the
// install's keys has answered, so an unreachable Redis fails with exit 3 and one clear line
// rather than hanging. Not a PING: in a Cluster that goes to any node, and the one holding the
// install's slot may be the one that stopped answering.
import { describeTarget, type Redis } from '../core/redis.js';
import { CLI_REDIS_GIVE_UP_MS, type CliContext, type RedisFailure } from './context.js';
import { CliError, EXIT } from './output.js';

export async function reachRedis(ctx: CliContext, timeoutMs = CLI_REDIS_GIVE_UP_MS + 500): Promise<Redis> {
  const config = ctx.config();
  const redis = ctx.redis();
  try {
    await Promise.race([
      // EXISTS on a key under the prefix: answered by the node that holds the install's slot.
      redis.exists(`${config.prefix}:reach`),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs).unref()),
    ]);
  } catch (e) {
    throw redisUnavailable(ctx.redisFailure() ?? { target: describeTarget(config.redis), cause: (e as Error).message });
  }
  return redis;
}

/** The one line a command prints when Redis cannot be reached (exit 3). */
export function redisUnavailable(f: RedisFailure): CliError {
  return new CliError(`cannot reach Redis at ${f.target}: ${f.cause}`, EXIT.unavailable);
}
