// The process-wide counters are incremented where things happen: the demo's sample mails run
// through every role in this process (as `npm start` does) against the Jira simulator, and
// the web role's own /metrics shows the Jira requests, cache lookups, accounts created and
// job durations they caused. Then a Jira 429 behind the Retry-After gate is counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo, type RunningDemo } from '../../src/demo/run.js';
import { createRetryAfterGate, gated } from '../../src/jira/retry-after.js';
import { RateLimitedError } from '../../src/core/errors.js';
import { dropPrefix, REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { freePort } from '../../src/ops/own-redis.js';

const prefix = uniquePrefix('metrics');
const redis = testRedis();
let demo: RunningDemo | undefined;
let webPort = 0;

/** Every sample of a metric whose labels include `labels`, summed. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

async function scrape(): Promise<string> {
  // The web role started by the demo, in this process, beside the other roles.
  const r = await fetch(`http://127.0.0.1:${webPort}/metrics`);
  expect(r.status).toBe(200);
  return r.text();
}

beforeAll(async () => {
  webPort = await freePort();
  demo = await runDemo({ redisUrl: REDIS_URL, prefix, webPort, logLevel: 'silent', timeoutMs: 90_000 });
}, 120_000);

afterAll(async () => {
  await demo?.stop();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('/metrics after mails went through every role in one process', () => {
  it('the demo settled with accounts and issues (the run the counters describe)', () => {
    expect(demo!.report.settled).toBe(true);
    expect(demo!.report.accountsCreated).toHaveLength(3);
    expect(demo!.report.issues.length).toBeGreaterThan(0);
  });

  it('counts Jira requests by operation and status', async () => {
    const text = await scrape();
    expect(total(text, 'mailroom_jira_requests_total')).toBeGreaterThan(0);
    // Successful answers are counted under their status code, by logical operation.
    expect(total(text, 'mailroom_jira_requests_total', { status: '200' }) + total(text, 'mailroom_jira_requests_total', { status: '201' })).toBeGreaterThan(0);
    expect(text).toMatch(/mailroom_jira_requests_total\{operation="[^"]+",status="\d{3}"\} [1-9]/);
  });

  it('counts identity cache lookups, with a miss for each sender Jira was asked about', async () => {
    const text = await scrape();
    expect(total(text, 'mailroom_cache_lookups_total', { result: 'miss' })).toBeGreaterThan(0);
    expect(total(text, 'mailroom_cache_lookups_total')).toBeGreaterThanOrEqual(total(text, 'mailroom_cache_lookups_total', { result: 'miss' }));
    const ratio = /^mailroom_cache_hit_ratio (\S+)$/m.exec(text);
    expect(Number(ratio?.[1])).toBeGreaterThanOrEqual(0);
    expect(Number(ratio?.[1])).toBeLessThan(1);
  });

  it('counts the accounts the provisioner created, by mode', async () => {
    const text = await scrape();
    expect(total(text, 'mailroom_accounts_created_total', { mode: 'user' })).toBe(demo!.report.accountsCreated.filter((a) => a.accountType === 'atlassian').length);
    expect(total(text, 'mailroom_accounts_created_total')).toBe(3);
  });

  it('counts the mail sent to customers: the acknowledgements and the agent\'s one public comment', async () => {
    const text = await scrape();
    const sent = (kind: string) => total(text, 'mailroom_customer_mails_total', { kind, outcome: 'sent' });
    expect(sent('acknowledge')).toBe(demo!.report.customerMails.filter((m) => m.kind === 'acknowledge').length);
    expect(sent('acknowledge')).toBe(4);
    expect(sent('comment')).toBe(1);
  });

  it('records job durations for every pipeline queue', async () => {
    const text = await scrape();
    for (const queue of ['mail-inbound', 'identity-provision', 'jira-deliver']) {
      expect(total(text, 'mailroom_job_duration_seconds_count', { queue, outcome: 'completed' }), queue).toBeGreaterThan(0);
    }
  });

  it('counts a Jira 429 and the time rate-limited, once per window extension', async () => {
    const before = await scrape();
    const gate = createRetryAfterGate({ redis, prefix, site: 'metrics.example' });
    const client = gated(
      {
        async findUsersByEmail(): Promise<never> {
          throw new RateLimitedError('Jira rate-limited user.search (429); retry after 2000 ms', 2000);
        },
      },
      gate,
    );
    await expect(client.findUsersByEmail()).rejects.toBeInstanceOf(RateLimitedError);
    // Inside the window the gate refuses before asking Jira: not another 429.
    await expect(client.findUsersByEmail()).rejects.toThrow(/waiting out Jira's Retry-After/);
    const after = await scrape();
    const op = { operation: 'findUsersByEmail' };
    expect(total(after, 'mailroom_jira_rate_limited_total', op) - total(before, 'mailroom_jira_rate_limited_total', op)).toBe(1);
    const seconds = total(after, 'mailroom_jira_rate_limited_seconds_total') - total(before, 'mailroom_jira_rate_limited_seconds_total');
    expect(seconds).toBeGreaterThan(1.9);
    expect(seconds).toBeLessThanOrEqual(2);
  });
});
