// `npx tsx bench/poller-rss.ts [--mails 1000] [--idle 40] [--built]`: the poller role's resident
// memory, alone, as a real process (workers/poller.ts under tsx, or with --built the compiled
// dist/workers/poller.js the Procfile runs, after `npm run build`) against a throwaway Dovecot:
// after start, half a second after it read a load of mails, and once it has idled a while.
import { parseArgs } from 'node:util';
import { makeMails, population, appender } from './lib/mails.js';
import { counts, openQueues, closeQueues } from './lib/observe.js';
import { startRig } from './lib/rig.js';
import { readRss } from './lib/rss.js';

const { values: args } = parseArgs({ options: { mails: { type: 'string', default: '1000' }, idle: { type: 'string', default: '40' }, built: { type: 'boolean', default: false } } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rig = await startRig({ latencyMs: 0, jitterMs: 0 });
try {
  const run = await rig.newRun('rss');
  const poller = run.start('poller', { built: args.built });
  const pid = poller.child.pid!;
  const mb = async () => Math.round(((await readRss(pid))?.rssKb ?? 0) / 102.4) / 10;
  await sleep(5000);
  const started = await mb();
  const mails = makeMails(population(rig.sim.state, { senders: 50, unknown: 10, tag: 'r' }), { count: Number(args.mails), tag: 'r' });
  const a = appender(rig.dovecot, run.imapUser);
  for (const m of mails) await a.append(m.raw);
  await a.close();
  const qs = openQueues(rig.conn, run.prefix);
  for (;;) {
    const c = (await counts(qs))['mail-inbound'];
    if (Object.values(c).reduce((x, y) => x + y, 0) >= mails.length) break;
    await sleep(200);
  }
  await sleep(500);
  const afterLoad = await mb();
  await sleep(Number(args.idle) * 1000);
  const idled = await mb();
  console.log(JSON.stringify({ built: args.built, mails: mails.length, startedMB: started, afterLoadMB: afterLoad, [`after${args.idle}sIdleMB`]: idled }));
  await closeQueues(qs);
  await run.stopAll();
} finally {
  await rig.close();
}
