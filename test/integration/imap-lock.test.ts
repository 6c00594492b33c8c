// The mailbox lock on a real Redis: one holder at a time, renewed while held, free for another
// once its holder is gone, released only by its holder; and a holder cut off from Redis gives
// the lock up on its own before it runs out, so it never reads beside a new holder.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { advanceCursor, readCursor } from '../../src/imap/cursor.js';
import { MailboxLock } from '../../src/imap/lock.js';
import { REDIS_URL, dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('imap-lock');
const redis = testRedis();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('MailboxLock', () => {
  it('has one holder at a time, keeps it past its TTL by renewing, and frees it on release', async () => {
    const key = `${prefix}:imap:a:lock`;
    const lost: string[] = [];
    const a = new MailboxLock({ redis, key, ttlMs: 600, onLost: (r) => lost.push(`a: ${r}`) });
    const b = new MailboxLock({ redis, key, ttlMs: 600, onLost: (r) => lost.push(`b: ${r}`) });
    expect(await a.tryAcquire()).toBe(true);
    expect(await b.tryAcquire()).toBe(false);
    await sleep(1500); // well past the TTL: renewals keep it
    expect(a.isHeld).toBe(true);
    expect(await b.tryAcquire()).toBe(false);
    expect(await a.holder()).toBe(a.token);
    await b.release(); // not the holder: changes nothing
    expect(await a.holder()).toBe(a.token);
    await a.release();
    expect(await b.tryAcquire()).toBe(true);
    await b.release();
    expect(lost).toEqual([]);
  });

  it('is taken over once its holder stops renewing (a dead process)', async () => {
    const key = `${prefix}:imap:b:lock`;
    // A holder that dies: it took the lock and never renews (no timers in a dead process).
    await redis.set(key, 'dead-host:1:abc', 'PX', 500);
    const b = new MailboxLock({ redis, key, ttlMs: 500, onLost: () => undefined });
    expect(await b.tryAcquire()).toBe(false);
    const wait = await b.remainingMs();
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(500);
    await sleep(wait + 20);
    expect(await b.tryAcquire()).toBe(true);
    await b.release();
  });

  it('tells its holder when someone else has the lock, and the cursor refuses the old holder', async () => {
    const key = `${prefix}:imap:c:lock`;
    let lost = '';
    const a = new MailboxLock({ redis, key, ttlMs: 300, onLost: (r) => (lost = r) });
    expect(await a.tryAcquire()).toBe(true);
    expect(await advanceCursor(redis, prefix, 'c', a.token, '7', 5)).toBe(true);
    await redis.set(key, 'someone-else');
    await sleep(250);
    expect(lost).toMatch(/taken by another poller/);
    expect(a.isHeld).toBe(false);
    expect(await advanceCursor(redis, prefix, 'c', a.token, '7', 9)).toBe(false);
    expect(await readCursor(redis, prefix, 'c')).toEqual({ uidvalidity: '7', lastUid: 5 });
  });

  it('moves the cursor only forward within a UIDVALIDITY, and restarts it on a new one', async () => {
    const key = `${prefix}:imap:d:lock`;
    const a = new MailboxLock({ redis, key, ttlMs: 5000, onLost: () => undefined });
    expect(await a.tryAcquire()).toBe(true);
    await advanceCursor(redis, prefix, 'd', a.token, '7', 10);
    await advanceCursor(redis, prefix, 'd', a.token, '7', 4);
    expect(await readCursor(redis, prefix, 'd')).toEqual({ uidvalidity: '7', lastUid: 10 });
    await advanceCursor(redis, prefix, 'd', a.token, '8', 2);
    expect(await readCursor(redis, prefix, 'd')).toEqual({ uidvalidity: '8', lastUid: 2 });
    // A new epoch (the server gave out UIDs again: reader.ts) starts it again within a UIDVALIDITY.
    await advanceCursor(redis, prefix, 'd', a.token, '8', 1, '1765000000000');
    expect(await readCursor(redis, prefix, 'd')).toEqual({ uidvalidity: '8', lastUid: 1, epoch: '1765000000000' });
    await advanceCursor(redis, prefix, 'd', a.token, '8', 1, '1765000000000');
    await advanceCursor(redis, prefix, 'd', a.token, '9', 3);
    expect(await readCursor(redis, prefix, 'd')).toEqual({ uidvalidity: '9', lastUid: 3 });
    await a.release();
  });

  it('gives the lock up before it runs out when Redis stops answering', async () => {
    // A TCP relay to Redis that can go silent, like a network partition.
    const sockets = new Set<Socket>();
    let silent = false;
    const relay: Server = createServer((client) => {
      const target = new URL(REDIS_URL);
      const upstream = connect(Number(target.port || 6379), target.hostname);
      sockets.add(client).add(upstream);
      client.on('data', (d) => {
        if (!silent) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!silent) client.write(d);
      });
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const port = (relay.address() as { port: number }).port;
    const cut = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: null });
    try {
      const key = `${prefix}:imap:e:lock`;
      let lostAt = 0;
      let reason = '';
      const a = new MailboxLock({ redis: cut, key, ttlMs: 600, onLost: (r) => ((lostAt = Date.now()), (reason = r)) });
      expect(await a.tryAcquire()).toBe(true);
      await sleep(300);
      silent = true;
      const cutAt = Date.now();
      await sleep(1200);
      expect(reason).toMatch(/could not renew the lock in time/);
      expect(a.isHeld).toBe(false);
      // It let go when the lock would run out in Redis (one TTL after the last renewal at the
      // latest), give or take timer slack on a busy machine; not whenever Redis came back.
      expect(lostAt - cutAt).toBeLessThan(600 + 400);
    } finally {
      cut.disconnect();
      for (const s of sockets) s.destroy();
      relay.close();
    }
  });
});
