// The demo's Redis: the one at the URL when something listens there; otherwise, for a loopback
// URL (a laptop with no Redis running), a private redis-server on a spare port that lives as
// long as the demo. Without a redis-server binary, one line says how to get a Redis.
import { connect } from 'node:net';
import { redisServerInstalled, startOwnRedis, REDIS_SERVER_BIN } from '../ops/own-redis.js';

export interface DemoRedis {
  url: string;
  /** One line for the person running the demo when a private Redis was started. */
  note?: string;
  stop(): Promise<void>;
}

export class NoRedisForDemoError extends Error {
  override name = 'NoRedisForDemoError';
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Whether anything accepts a TCP connection there (refused = nothing listens). */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: host.replace(/^\[|\]$/g, ''), port });
    // A loopback connect answers at once; the bound only guards a wedged stack.
    s.setTimeout(2000);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('timeout', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function demoRedis(url: string, opts: { bin?: string } = {}): Promise<DemoRedis> {
  const here = { url, stop: async () => undefined };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return here; // the pipeline's own connection reports a bad URL
  }
  const port = Number(parsed.port || 6379);
  if (!LOOPBACK.has(parsed.hostname) || (await listening(parsed.hostname, port))) return here;
  const where = `${parsed.hostname}:${port}`;
  const bin = opts.bin ?? REDIS_SERVER_BIN;
  if (!redisServerInstalled(bin)) {
    throw new NoRedisForDemoError(
      `nothing listens on ${where} and ${bin} is not installed: install Redis (apt-get install redis-server, brew install redis) or run one (docker run -d -p 6379:6379 redis:7), or set REDIS_URL`,
    );
  }
  const own = await startOwnRedis({ bin });
  return {
    url: own.url,
    note: `Nothing listens on ${where}: started a private redis-server at ${own.url} for this demo (it stops, data and all, when the demo does).`,
    stop: () => own.stop(),
  };
}
