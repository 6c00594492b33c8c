// The per-recipient hourly ceiling on mail to customers (src/respond/rate.ts), on real Redis:
// a sliding hour, shared by every process, where a retry of the same mail is not counted twice.
import { afterAll, describe, expect, it } from 'vitest';
import { takeSend, WINDOW_MS } from '../../src/respond/rate.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefix = uniquePrefix('respond-rate');
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('takeSend', () => {
  it('allows N per address per sliding hour, counts a retried mail once, and frees a slot as the hour slides', async () => {
    const t0 = 1_800_000_000_000;
    expect(await takeSend(redis, prefix, 'Nora@x.example', 2, 'job-1', t0)).toBe(true);
    expect(await takeSend(redis, prefix, 'nora@x.example', 2, 'job-1', t0 + 10)).toBe(true); // the same mail again
    expect(await takeSend(redis, prefix, 'nora@x.example', 2, 'job-2', t0 + 20)).toBe(true);
    expect(await takeSend(redis, prefix, 'nora@x.example', 2, 'job-3', t0 + 30)).toBe(false);
    expect(await takeSend(redis, prefix, 'other@x.example', 2, 'job-3', t0 + 30)).toBe(true);
    expect(await takeSend(redis, prefix, 'nora@x.example', 2, 'job-3', t0 + WINDOW_MS + 5)).toBe(true); // job-1 slid out
    expect(await takeSend(redis, prefix, 'nora@x.example', 2, 'job-4', t0 + WINDOW_MS + 6)).toBe(false);
  });
});
