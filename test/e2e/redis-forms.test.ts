// The whole pipeline (every role, the simulator as Jira, the demo's mails) on the two Redis
// forms production runs besides one server, each started here on loopback ports:
// - a 3-node Redis Cluster: every key the install writes shares one hash slot (so BullMQ's Lua
//   scripts and Mailroom's MULTI blocks work), listed from every primary;
// - a primary + replica + 3 Sentinels: the primary is SIGKILLed after a run, the replica is
//   promoted, and the same role processes (not restarted) carry the next mail through.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DEMO_MAILS, runDemo, type RunningDemo } from '../../src/demo/run.js';
import { createRedis, nodesOf, parseRedisTarget, whenReady, type Redis } from '../../src/core/redis.js';
import { freePort } from '../helpers/dovecot.js';
import { startCluster, startSentinel, type RedisForm } from '../helpers/redis-forms.js';

const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

// ioredis prints "[ioredis] Unhandled error event" with console.error for a connection with
// no 'error' listener (each failed reconnect of a failover); every connection of the demo's
// and of this file's has one, so nothing may print.
const printed = vi.spyOn(console, 'error');
const ioredisPrints = () => printed.mock.calls.map((c) => c.map(String).join(' ')).filter((l) => l.includes('[ioredis]'));

function connect(form: RedisForm): Redis {
  const r = createRedis(parseRedisTarget(form.env).target!, { name: 'mailroom-test' });
  // A failover is reconnect errors on this connection too: its commands wait them out.
  r.on('error', () => undefined);
  stops.push(async () => r.disconnect());
  return r;
}

async function allKeys(redis: Redis): Promise<{ node: string; key: string }[]> {
  const out: { node: string; key: string }[] = [];
  await whenReady(redis);
  for (const node of nodesOf(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) out.push({ node: `${node.options.port}`, key });
    } while (cursor !== '0');
  }
  return out;
}

async function demoOn(form: RedisForm, prefix: string): Promise<RunningDemo> {
  const demo = await runDemo({ redisUrl: '', redisEnv: form.env, prefix, webPort: await freePort(), logLevel: process.env.MR_TEST_LOG ?? 'silent', timeoutMs: 90_000 });
  stops.push(() => demo.stop());
  return demo;
}

describe('on a 3-node Redis Cluster', () => {
  it('runs the pipeline, and every key the install writes shares the prefix and one slot', { timeout: 150_000 }, async () => {
    const cluster = await startCluster();
    stops.push(() => cluster.stop());
    const prefix = `{mrtest-cluster-${randomBytes(3).toString('hex')}}`;
    const demo = await demoOn(cluster, prefix);
    expect(demo.report.settled).toBe(true);
    expect(demo.report.issues.length).toBeGreaterThan(0);
    expect(demo.report.accountsCreated.length).toBeGreaterThan(0);

    const redis = connect(cluster);
    const keys = await allKeys(redis);
    // Queues, jobs, locks, the ledger, the caches, cursors, audit, the token and its gate...
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter((k) => !k.key.startsWith(prefix))).toEqual([]);
    // The cluster's own answer for where each key lives.
    const slotOf = async (k: string) => Number(await redis.call('CLUSTER', 'KEYSLOT', k));
    const slots = new Set(await Promise.all(keys.map((k) => slotOf(k.key))));
    expect(slots).toEqual(new Set([await slotOf(prefix)]));
    expect(new Set(keys.map((k) => k.node)).size).toBe(1);
    // Each kind of key the install writes is in that list: the audit trail, the delivery
    // ledger, BullMQ's queues, the token.
    const kinds = new Set(keys.map((k) => k.key.slice(prefix.length + 1).split(':')[0]));
    // The demo's customer loop adds the respond queue (acknowledgements, the agent's reply).
    for (const kind of ['mail-inbound', 'jira-deliver', 'identity-provision', 'respond']) expect(kinds).toContain(kind);
  });
});

describe('on a primary + replica watched by 3 Sentinels', () => {
  it('runs the pipeline; after the primary is killed the same roles deliver the next mail, once', { timeout: 240_000 }, async () => {
    const sentinel = await startSentinel();
    stops.push(() => sentinel.stop());
    const prefix = `{mrtest-sentinel-${randomBytes(3).toString('hex')}}`;
    const demo = await demoOn(sentinel, prefix);
    expect(demo.report.settled).toBe(true);
    const issuesBefore = demo.report.issues.length;
    expect(issuesBefore).toBeGreaterThan(0);

    const r = connect(sentinel);
    const deliveredBefore = await r.zcard(`${prefix}:jira-deliver:completed`);
    const { from, to } = await sentinel.killPrimary();
    expect(to).not.toBe(from);

    // A new mail (a fresh Message-ID) after the failover: the running roles reconnect to the
    // promoted primary by themselves and deliver it.
    const dir = mkdtempSync(join(tmpdir(), 'mr-sentinel-mail-'));
    const raw = readFileSync(join(DEMO_MAILS, '02-known-user-vpn.eml'), 'utf8')
      .replace(/^Message-ID:.*$/im, `Message-ID: <after-failover-${randomBytes(4).toString('hex')}@example.com>`)
      .replace(/^Subject:.*$/im, 'Subject: After the failover');
    writeFileSync(join(dir, 'after-failover.eml'), raw);
    const fed = await demo.feed([dir], 120_000);
    if (!fed) {
      // Say what is still waiting, and where, so a failure here names the stuck stage.
      const stuck: Record<string, unknown> = {};
      for (const q of ['mail-inbound', 'identity-provision', 'jira-deliver', 'mailbox-actions']) {
        stuck[q] = { wait: await r.llen(`${prefix}:${q}:wait`), active: await r.llen(`${prefix}:${q}:active`), delayed: await r.zcard(`${prefix}:${q}:delayed`), paused: await r.hget(`${prefix}:${q}:meta`, 'paused') };
      }
      throw new Error(`the mail fed after the failover did not settle in 120 s: ${JSON.stringify(stuck)}`);
    }

    // Nothing written before the failover was lost (the run had settled and the replica was in
    // sync), the new mail was delivered exactly once, nothing failed.
    expect(await r.zcard(`${prefix}:jira-deliver:completed`)).toBe(deliveredBefore + 1);
    expect(await r.zcard(`${prefix}:jira-deliver:failed`)).toBe(0);
    const role = await r.call('ROLE') as unknown[];
    expect(role[0]).toBe('master');
    expect(ioredisPrints()).toEqual([]);
  });
});
