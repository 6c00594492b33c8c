// `npm run demo` with its Redis refused or dropped: what the person running it sees is the
// demo's own one line, or the structured log's JSON lines, never ioredis's
// "[ioredis] Unhandled error event" print (a connection of the demo's own with no 'error'
// listener; seen in test/e2e/redis-forms.test.ts's failover).
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startOwnRedis, type OwnRedis } from '../../src/ops/own-redis.js';
import { ROOT } from '../helpers/cli.js';
import { uniquePrefix } from '../helpers/redis.js';

const stops: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

function startDemo(redisUrl: string, ...args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: redisUrl, MAILROOM_PREFIX: uniquePrefix('demo-down'), MAILROOM_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stops.push(() => void child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const until = async (what: string, ok: () => boolean, ms = 120_000) => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout: ${stdout.slice(-1500)}; stderr: ${stderr.slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, exited, until, out: () => stdout, err: () => stderr };
}

/** stderr's lines that are not one of the structured logger's JSON lines. */
const notJson = (stderr: string) =>
  stderr.split('\n').filter((l) => {
    if (!l.trim()) return false;
    try {
      JSON.parse(l);
      return false;
    } catch {
      return true;
    }
  });

describe('npm run demo without its Redis', () => {
  it('refused at start: one line naming the Redis and the connection error, and nothing from ioredis', { timeout: 60_000 }, async () => {
    // Not a loopback name the demo knows (it would start a private redis-server there), yet
    // local on Linux: the connection is refused at once.
    const port = await freePort();
    const demo = startDemo(`redis://127.0.0.2:${port}`, '--once');
    expect(await demo.exited).not.toBe(0);
    expect(notJson(demo.err())).toEqual([
      `mailroom demo: the demo needs Redis at redis://127.0.0.2:${port} (connect ECONNREFUSED 127.0.0.2:${port}): start redis-server or set REDIS_URL`,
    ]);
  });

  it('dropped under the running demo: one JSON outage line, and nothing from ioredis', { timeout: 240_000 }, async () => {
    const redis: OwnRedis = await startOwnRedis();
    stops.push(() => redis.stop());
    const demo = startDemo(redis.url);
    await demo.until('the report', () => demo.out().includes('Running until Ctrl-C'));
    await redis.halt({ hard: true });
    const outage = () => demo.err().split('\n').filter((l) => l.includes('"redis unreachable: work waits until it is back"'));
    await demo.until('the outage line', () => outage().length > 0);
    // Every connection of the demo's retries (50 ms, 100 ms, ... apart), each retry an 'error'
    // event: a few seconds of them is where an unhandled one would print.
    await new Promise((r) => setTimeout(r, 5000));
    expect(demo.err()).not.toContain('[ioredis]');
    expect(notJson(demo.err())).toEqual([]);
    expect(outage()).toHaveLength(1);
  });
});
