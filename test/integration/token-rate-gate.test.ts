// Every client on the stored token — workers', the periodic token check's, the /readyz probe's,
// the notifier's — sits behind the site's shared Retry-After gate: a 429 met by one closes the
// window for all, and none sends a request inside it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { RateLimitedError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { jiraClientFactory } from '../../src/token/runtime.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('token-rate-gate');
const redis = testRedis();
let jira: SeededSim;

beforeAll(async () => {
  jira = await startSeededSim();
});
afterAll(async () => {
  await jira.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('clients on the stored token', () => {
  it('share the Retry-After window: after one meets a 429, another sends nothing until it has passed', async () => {
    const config = parseConfig({ jira: { site: jira.sim.url }, mailboxes: [{ id: 'support' }] }, { MAILROOM_PREFIX: prefix });
    const creds = { email: jira.site.admin.email, token: jira.site.admin.token, accountId: jira.site.admin.accountId, expiresAt: '2099-01-01T00:00:00Z', version: 1 };
    // Two processes' worth: a worker's client and the token check's, from separate factories.
    const worker = jiraClientFactory(config, silentLogger, redis)(creds);
    const check = jiraClientFactory(config, silentLogger, redis)(creds);

    jira.sim.faults.rateLimit({ count: 1, retryAfterSec: 2 });
    await expect(worker.findUsersByEmail('bob@partner.example')).rejects.toBeInstanceOf(RateLimitedError);
    const asked = jira.sim.counters.count('getCurrentUser');
    const refused = await check.myself().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).retryAfterMs).toBeGreaterThan(1000);
    // Refused here, before any request left: Jira never saw it.
    expect(jira.sim.counters.count('getCurrentUser')).toBe(asked);
    expect(jira.sim.counters.violations('earlyRetry')).toBe(0);

    await new Promise((r) => setTimeout(r, 2100));
    expect((await check.myself()).accountId).toBe(jira.site.admin.accountId);
  });
});
