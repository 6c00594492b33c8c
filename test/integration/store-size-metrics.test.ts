// The mail store's size on /metrics is the last prune pass's, kept in Redis however old: with it
// goes when that pass measured, so a pruner that stopped shows (MailroomStoreNotPruned).
import { afterAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/core/metrics.js';
import { recordStoreSize } from '../../src/mail/retention.js';
import { storeSizeSource } from '../../src/ops/store-size.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('store-size');
const redis = testRedis();

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('mail store gauges', () => {
  it('say when the store was measured, beside what was measured', async () => {
    const measuredAt = '2026-12-01T08:00:00.000Z';
    await recordStoreSize(redis, prefix, { mails: 12, bytes: 34_567, measuredAt });
    const m = createMetrics();
    await storeSizeSource(redis, prefix).collect(m);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^mailroom_store_bytes 34567$/m);
    expect(text).toMatch(new RegExp(`^mailroom_store_measured_timestamp_seconds ${Date.parse(measuredAt) / 1000}$`, 'm'));
    expect(storeSizeSource(redis, prefix).metrics).toContain('mailroom_store_measured_timestamp_seconds');
  });
});
