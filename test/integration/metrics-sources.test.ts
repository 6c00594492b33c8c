// A source of install-wide gauges that fails while Redis answers (here the token's hash holds
// the wrong type, as a hand-edited or half-restored Redis can): its series are left out of
// /metrics rather than served with their last values, mailroom_metrics_source_up says which
// source failed, and the warning is logged once, not at every scrape. Real Redis, real HTTP.
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { createMetrics } from '../../src/core/metrics.js';
import { writeHeartbeat } from '../../src/imap/heartbeat.js';
import { heartbeatSource, tokenSource } from '../../src/ops/health.js';
import { loadSecretKey } from '../../src/token/key.js';
import { saveToken, tokenKey } from '../../src/token/store.js';
import { buildWebServer } from '../../src/web/server.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('metrics-sources');
const redis = testRedis();
const lines: { level: number; msg: string; sources?: unknown }[] = [];
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  await redis.ping();
  app = await buildWebServer({
    redis,
    prefix,
    logger: createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } }),
    metrics: createMetrics(),
    auth: { mode: 'none' },
    scrapeSources: [tokenSource(redis, prefix), heartbeatSource(redis, prefix, ['support'])],
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

const scrape = async () => (await fetch(`${base}/metrics`)).text();
const warnings = () => lines.filter((l) => /metrics sources/.test(l.msg));

describe('a scrape source that fails while Redis answers', () => {
  it('is left out of the scrape, not served with its last values, and says so once', async () => {
    const now = new Date();
    await saveToken(redis, prefix, loadSecretKey({ base64: randomBytes(32).toString('base64') }), {
      token: 'ATATT-not-a-real-token-0123456789',
      email: 'bot@example.com',
      accountId: 'acc-1',
      storedAt: now,
      expiresAt: new Date(now.getTime() + 40 * 86_400_000),
    });
    await writeHeartbeat(redis, prefix, { mailboxId: 'support', state: 'idle' });
    const before = await scrape();
    expect(before).toContain('mailroom_token_valid 1');

    // The token's hash becomes a string: HGETALL answers WRONGTYPE, the token source fails.
    await redis.del(tokenKey(prefix));
    await redis.set(tokenKey(prefix), 'not a hash');
    const during = [await scrape(), await scrape(), await scrape()];
    for (const text of during) {
      expect(text).not.toMatch(/^mailroom_token_valid /m);
      expect(text).not.toMatch(/^mailroom_token_days_to_expiry /m);
      // The sources that answer are shown as ever.
      expect(text).toMatch(/^mailroom_mailbox_state\{mailbox="support",state="idle"\} 1$/m);
      expect(text).toMatch(/^mailroom_queue_jobs\{/m);
    }
    for (const text of during) {
      expect(text).toContain('mailroom_metrics_source_up{source="token"} 0');
      expect(text).toContain('mailroom_metrics_source_up{source="heartbeats"} 1');
    }
    expect(before).toContain('mailroom_metrics_source_up{source="token"} 1');
    expect(warnings()).toEqual([expect.objectContaining({ level: 40, sources: [{ source: 'token', error: expect.stringContaining('WRONGTYPE') }] })]);

    await redis.del(tokenKey(prefix));
    const after = await scrape();
    expect(after).toContain('mailroom_token_valid 0'); // no token stored now: a true 0
    expect(after).toContain('mailroom_metrics_source_up{source="token"} 1');
    expect(warnings().map((l) => l.level)).toEqual([40, 30]);
    await scrape();
    expect(warnings()).toHaveLength(2);
  });
});
