// Issue #23, point 4: ceilings a forger cannot exhaust. Real Redis; times are passed in, so the
// window is shown without waiting an hour.
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ceilingStatus, markWaiting, takeNewAccount, WINDOW_MS } from '../../src/identity/account-ceiling.js';
import { countMail } from '../../src/identity/flood.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis: Redis = testRedis();
const others: Redis[] = [];
let prefix: string;
beforeEach(() => {
  prefix = uniquePrefix('ceiling');
});
afterEach(async () => {
  await dropPrefix(redis, prefix);
});
afterAll(() => {
  for (const r of others) r.disconnect();
  redis.disconnect();
});

const HOUR_EDGE = Date.UTC(2026, 11, 6, 5, 0, 0); // a clock hour turns here
const limits = { perSenderPerHour: 1000, perInstallPerHour: 50 };

describe('new-account ceilings over a sliding hour', () => {
  it('no clock hour doubles the install ceiling: 50 just before the hour leave no room just after it', async () => {
    for (let i = 0; i < 50; i++) expect(await takeNewAccount(redis, prefix, `s${i}@x.example`, `n${i}@x.example`, limits, HOUR_EDGE - 60_000 + i)).toEqual({ ok: true });
    const after = await takeNewAccount(redis, prefix, 'late@x.example', 'late@x.example', limits, HOUR_EDGE + 60_000);
    expect(after).toEqual({ ok: false, which: 'install', count: 50, limit: 50, retryAt: HOUR_EDGE - 60_000 + WINDOW_MS });
    // At retryAt the first one has left the window: room for exactly one.
    expect(await takeNewAccount(redis, prefix, 'late@x.example', 'late@x.example', limits, after.ok ? 0 : after.retryAt)).toEqual({ ok: true });
    expect((await ceilingStatus(redis, prefix, HOUR_EDGE - 60_000 + WINDOW_MS)).thisHour).toBe(50);
    expect(await takeNewAccount(redis, prefix, 'later@x.example', 'later@x.example', limits, HOUR_EDGE - 60_000 + WINDOW_MS)).toMatchObject({ ok: false, which: 'install' });
  });

  it('a re-run of the same email is counted once; the per-sender ceiling slides too', async () => {
    const one = { perSenderPerHour: 2, perInstallPerHour: 50 };
    expect(await takeNewAccount(redis, prefix, 'm@x.example', 'a@x.example', one, HOUR_EDGE - 1000)).toEqual({ ok: true });
    expect(await takeNewAccount(redis, prefix, 'm@x.example', 'a@x.example', one, HOUR_EDGE - 500)).toEqual({ ok: true });
    expect(await takeNewAccount(redis, prefix, 'm@x.example', 'b@x.example', one, HOUR_EDGE)).toEqual({ ok: true });
    expect(await takeNewAccount(redis, prefix, 'm@x.example', 'c@x.example', one, HOUR_EDGE + 1000)).toMatchObject({ ok: false, which: 'sender', count: 2 });
  });

  it('unverified senders use only their share: the rest stays for verified ones', async () => {
    const shared = { perSenderPerHour: 100, perInstallPerHour: 6, perInstallPerHourUnverified: 3 };
    const unverified = await Promise.all(Array.from({ length: 10 }, (_, i) => takeNewAccount(redis, prefix, `f${i}@forged.example`, `f${i}@forged.example`, { ...shared, verified: false }, HOUR_EDGE)));
    expect(unverified.filter((a) => a.ok)).toHaveLength(3);
    expect(unverified.find((a) => !a.ok)).toMatchObject({ which: 'install', limit: 3 });
    for (let i = 0; i < 3; i++) expect(await takeNewAccount(redis, prefix, `v${i}@genuine.example`, `v${i}@genuine.example`, { ...shared, verified: true }, HOUR_EDGE)).toEqual({ ok: true });
    expect(await takeNewAccount(redis, prefix, 'v9@genuine.example', 'v9@genuine.example', { ...shared, verified: true }, HOUR_EDGE)).toMatchObject({ ok: false, limit: 6 });
  });

  it('claims from several processes at once never pass the ceiling', async () => {
    const conns = Array.from({ length: 4 }, () => testRedis());
    others.push(...conns);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => takeNewAccount(conns[i % 4]!, prefix, `p${i}@x.example`, `p${i}@x.example`, { perSenderPerHour: 100, perInstallPerHour: 10 }, HOUR_EDGE)));
    expect(answers.filter((a) => a.ok)).toHaveLength(10);
  });
});

describe('the flood limit over a sliding hour', () => {
  it('counts the last hour, not the clock hour, and a re-run mail once', async () => {
    for (let i = 0; i < 5; i++) await countMail(redis, prefix, 'loud@x.example', `job-${i}`, HOUR_EDGE - 120_000 + i);
    expect(await countMail(redis, prefix, 'loud@x.example', 'job-5', HOUR_EDGE + 60_000)).toBe(6);
    expect(await countMail(redis, prefix, 'loud@x.example', 'job-5', HOUR_EDGE + 61_000)).toBe(6);
    expect(await countMail(redis, prefix, 'loud@x.example', 'job-6', HOUR_EDGE - 120_000 + WINDOW_MS + 10)).toBe(2);
  });
});

describe('the wait at the install ceiling', () => {
  it('is begun by one mail, in any process; later mails keep when it began', async () => {
    const now = Date.now();
    const detail = { count: 50, limit: 50, retryAt: now + 600_000 };
    const other = testRedis();
    others.push(other);
    expect(await markWaiting(redis, prefix, detail, now)).toBe(true);
    expect(await markWaiting(other, prefix, { ...detail, count: 51 }, now + 5_000)).toBe(false);
    expect((await ceilingStatus(redis, prefix, now + 5_000)).waiting).toEqual({ ...detail, count: 51, since: new Date(now).toISOString() });
  });
});

