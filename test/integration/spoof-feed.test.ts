// Issue #18's done-when, at CI size: mail from spoofing senders (DMARC fail at our receiving
// host) and genuine ones through resolver, provisioner and deliverer against the simulator.
// `npx tsx bench/spoof-feed.ts` runs the full 1,000 mails from 50 + 50 senders.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runSpoofFeed } from '../helpers/spoof-feed.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

let jira: SeededSim;
let redis: Redis;
const prefix = uniquePrefix('spoof');
const conns: Redis[] = [];

beforeAll(async () => {
  jira = await startSeededSim();
  redis = testRedis();
});
afterAll(async () => {
  for (const c of conns) c.disconnect();
  await dropPrefix(redis, prefix);
  redis.disconnect();
  await jira.close();
});

it('accounts only for genuine senders, comments only from allowed ones, every mail delivered', { timeout: 180_000 }, async () => {
  const r = await runSpoofFeed({
    sim: jira.sim,
    site: jira.site,
    redis,
    prefix,
    workerConnection: () => {
      const c = testRedis({ forWorker: true });
      conns.push(c);
      return c;
    },
    mails: 120,
    genuine: 10,
    spoofers: 10,
  });
  expect(r).toMatchObject({ mails: 120, genuineWithAccount: 10, spoofedWithAccount: 0, spoofedComments: 0, spoofedReporter: 0, undelivered: 0 });
  // Half of the second wave are genuine follow-ups: they, and only they, became comments.
  expect(r.comments).toBe(50);
  expect(r.issues).toBe(70);
});
