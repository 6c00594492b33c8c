// 1,000 mails from 50 spoofing senders (DMARC fail at our receiving host) and 50 genuine ones
// through resolver, provisioner and deliverer against the Jira simulator: accounts for genuine
// senders only, comments only where allowed. Exits non-zero on any violation.
//   npx tsx bench/spoof-feed.ts [--mails 1000] [--genuine 50] [--spoofers 50]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startJiraSim } from '../src/jira-sim/index.js';
import { seedDemo } from '../src/jira-sim/seed.js';
import { runSpoofFeed } from '../test/helpers/spoof-feed.js';
import { deleteByPrefix } from '../src/core/redis.js';

const { values: args } = parseArgs({ options: { mails: { type: 'string', default: '1000' }, genuine: { type: 'string', default: '50' }, spoofers: { type: 'string', default: '50' } } });
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `{mrbench-spoof-${randomBytes(3).toString('hex')}}`;
const sim = await startJiraSim({});
const site = seedDemo(sim);
const redis = new Redis(url, { maxRetriesPerRequest: 3 });
const conns: Redis[] = [];
try {
  const r = await runSpoofFeed({
    sim,
    site,
    redis,
    prefix,
    workerConnection: () => {
      const c = new Redis(url, { maxRetriesPerRequest: null });
      conns.push(c);
      return c;
    },
    mails: Number(args.mails),
    genuine: Number(args.genuine),
    spoofers: Number(args.spoofers),
  });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  const ok = r.genuineWithAccount === Number(args.genuine) && r.spoofedWithAccount === 0 && r.spoofedComments === 0 && r.spoofedReporter === 0 && r.undelivered === 0;
  process.stdout.write(ok ? 'spoof feed: ok\n' : 'spoof feed: VIOLATION\n');
  process.exitCode = ok ? 0 : 1;
} finally {
  for (const c of conns) c.disconnect();
  await deleteByPrefix(redis, prefix);
  redis.disconnect();
  await sim.close();
}
