// The demo's choice of Redis: the one at the URL when it listens, else a private redis-server
// (the benchmark's), else a one-line error that says how to get one.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoRedis, NoRedisForDemoError } from '../../src/demo/redis.js';
import { answers, freePort } from '../../src/ops/own-redis.js';
import { REDIS_URL } from '../helpers/redis.js';

describe('demo Redis', () => {
  it('uses the Redis at the URL when one listens there, and stopping it leaves that Redis alone', async () => {
    const r = await demoRedis(REDIS_URL);
    expect(r.url).toBe(REDIS_URL);
    expect(r.note).toBeUndefined();
    await r.stop();
    const u = new URL(REDIS_URL);
    expect(await answers(Number(u.port || 6379), u.hostname)).toBe(true);
  });

  it('starts a private redis-server when nothing listens on a loopback URL, and stop() ends it', async () => {
    const port = await freePort();
    const r = await demoRedis(`redis://127.0.0.1:${port}`);
    try {
      expect(r.note).toMatch(new RegExp(`Nothing listens on 127\\.0\\.0\\.1:${port}: started a private redis-server at ${r.url}`));
      expect(r.url).not.toBe(`redis://127.0.0.1:${port}`);
      expect(await answers(Number(new URL(r.url).port))).toBe(true);
    } finally {
      await r.stop();
    }
    expect(await answers(Number(new URL(r.url).port))).toBe(false);
  });

  it('without redis-server, fails with one line naming the address and how to get a Redis', async () => {
    const port = await freePort();
    const e = await demoRedis(`redis://localhost:${port}`, { bin: join(import.meta.dirname, 'no-such-redis-server') }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NoRedisForDemoError);
    const msg = (e as Error).message;
    expect(msg).not.toContain('\n');
    expect(msg).toMatch(new RegExp(`^nothing listens on localhost:${port} and .*no-such-redis-server is not installed: install Redis \\(apt-get install redis-server`));
  });

  it('never starts one for a remote Redis: a wrong remote URL is the pipeline\'s error to report', async () => {
    const r = await demoRedis('redis://redis.invalid:6379');
    expect(r.url).toBe('redis://redis.invalid:6379');
  });
});
