// The per-mail delivery lock on a real Redis: held as long as its holder works, however long
// "check, then create" takes, and free again once released.
import { afterAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../src/ledger/ledger.js';
import { RetryableError } from '../../src/core/errors.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('deliver-ledger');
const redis = testRedis();

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('the delivery lock', () => {
  it('does not lapse while held past its lifetime, refuses a second holder, and frees on release', async () => {
    const ledger = createLedger(redis, prefix);
    const release = await ledger.lock('m1@example.com', 300);
    // Three lifetimes later (slow Jira calls), the first holder still has it.
    await new Promise((r) => setTimeout(r, 1000));
    await expect(ledger.lock('m1@example.com', 300)).rejects.toBeInstanceOf(RetryableError);
    await release();
    const again = await ledger.lock('m1@example.com', 300);
    await again();
  });
});
