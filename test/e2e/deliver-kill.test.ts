// The deliverer as a process, killed with SIGKILL at random points while it delivers N mails,
// then started again: exactly N issues, no duplicates, every mail's job completed and its
// mailbox action asked for. Stalled-job detection is shortened (lockDuration) so a killed
// process's jobs come back within a second instead of BullMQ's default half minute.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE_PROPERTY } from '../../src/deliver/deliverer.js';
import { rawMail, storedRecord } from '../../src/deliver/testkit.js';
import { FsMailStore } from '../../src/mail/store.js';
import { seeded } from '../../src/pipeline/sim-run.js';
import { jiraDeliver, mailboxActions } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startSeededSim, type SeededSim, storeAdminToken } from '../helpers/jira-sim.js';
import { dropPrefix, REDIS_ENV, testRedis, uniquePrefix } from '../helpers/redis.js';

// Scaled so the test fits in about a minute here; bench/deliver.ts runs the issue's 500.
const N = Number(process.env.DELIVER_KILL_MAILS ?? 100);
const KILLS = 5;
// Generous: the machines running this are often shared; a slow run is not a failure here.
const DONE_WITHIN_MS = Math.max(180_000, N * 1_500);

let jira: SeededSim;
const redis = testRedis();
const prefix = uniquePrefix('deliver-kill');
const secretKey = randomBytes(32).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'mr-deliver-kill-'));
const store = new FsMailStore(join(dir, 'mail'));
let deliverQ: Queue;
let actionsQ: Queue;
let child: ChildProcess | undefined;
let stderr = '';

const ENTRY = `
import { runRoles } from './src/runtime.js';
import { delivererRole } from './src/deliver/role.js';
await runRoles('deliverer', [delivererRole({ lockDuration: 1000, stalledInterval: 500, mailLockMs: 3000 })]);
`;

beforeAll(async () => {
  // Some latency, so kills land in the middle of Jira calls as well as between them.
  jira = await startSeededSim({ latencyMs: 4, jitterMs: 3 });
  await storeAdminToken(redis, prefix, secretKey, jira.site);
  writeFileSync(
    join(dir, 'mailroom.yml'),
    [
      'jira:',
      `  site: ${jira.sim.url}`,
      '  timeout: 5s',
      'store:',
      '  kind: fs',
      `  dir: ${join(dir, 'mail')}`,
      'mailboxes:',
      '  - id: support',
      '    deliver:',
      '      project: SUP',
      'queues:',
      '  jira-deliver: { attempts: 100, delay: 50ms, maxDelay: 1s }',
      'log:',
      '  level: error',
      '',
    ].join('\n'),
  );
  deliverQ = openQueue(jiraDeliver, { connection: redis, prefix });
  actionsQ = openQueue(mailboxActions, { connection: redis, prefix });
});
afterAll(async () => {
  child?.kill('SIGKILL');
  await deliverQ.close();
  await actionsQ.close();
  await dropPrefix(redis, prefix);
  await redis.quit();
  await jira.close();
});

function startDeliverer(): ChildProcess {
  const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ENTRY], {
    cwd: process.cwd(),
    env: { ...process.env, ...REDIS_ENV, MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: secretKey, MAILROOM_SECRET_KEY_FILE: '', MAILROOM_CONFIG: join(dir, 'mailroom.yml') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  return c;
}

function exited(c: ChildProcess): Promise<void> {
  return c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('deliverer killed with SIGKILL at random points', () => {
  it(`delivers ${N} mails as exactly ${N} issues`, { timeout: DONE_WITHIN_MS + 60_000 }, async () => {
    const rand = seeded(7);
    for (let i = 0; i < N; i++) {
      const record = await storedRecord(store, rawMail({
        from: 'Alice Agent <alice@acme.example>',
        subject: `Kill test ${i}`,
        messageId: `kill-${i}@acme.example`,
        text: `Mail ${i}\n\nwith two paragraphs`,
        attachments: [{ filename: `n${i}.txt`, contentType: 'text/plain', content: Buffer.from(`attachment ${i}`) }],
      }));
      await addJob(deliverQ, jiraDeliver, {
        mailboxId: 'support',
        origin: { kind: 'imap', uidvalidity: '1', uid: i + 1 },
        record,
        people: [{ email: 'alice@acme.example', role: 'sender', status: 'known', accountId: jira.site.users.alice.accountId }],
      });
    }

    let kills = 0;
    const progress: number[] = [];
    while (kills < KILLS) {
      child = startDeliverer();
      // Kill only once it is working (start-up takes a while), at a random point after that.
      const before = jira.sim.counters.count();
      const t0 = Date.now();
      while (jira.sim.counters.count() === before && Date.now() - t0 < 30_000) await sleep(20);
      await sleep(300 + Math.floor(rand() * 1200));
      child.kill('SIGKILL');
      await exited(child);
      kills++;
      progress.push(jira.sim.state.allIssues().length);
    }
    child = startDeliverer();
    const started = Date.now();
    while ((await deliverQ.getCompletedCount()) < N) {
      if (Date.now() - started > DONE_WITHIN_MS) throw new Error(`not done: ${await deliverQ.getCompletedCount()} of ${N} completed; stderr: ${stderr}`);
      if (child.exitCode !== null) throw new Error(`the deliverer exited (${child.exitCode}): ${stderr}`);
      await sleep(200);
    }
    child.kill('SIGTERM');
    await exited(child);

    // Kills really interrupted the work (issues were being made across several runs).
    expect(progress.some((n) => n > 0 && n < N)).toBe(true);
    const issues = jira.sim.state.allIssues();
    const ids = issues.map((i) => (i.properties.get(MESSAGE_PROPERTY) as { id: string } | undefined)?.id);
    expect(issues).toHaveLength(N);
    expect(new Set(ids).size).toBe(N);
    expect(ids.every((id) => id?.startsWith('kill-'))).toBe(true);
    expect(issues.every((i) => (i.properties.get(MESSAGE_PROPERTY) as { complete?: boolean }).complete === true)).toBe(true);
    // Every attachment arrived; one may come twice when a kill lands between its upload and its step record.
    expect(issues.every((i) => i.attachments.length >= 1)).toBe(true);
    const extraUploads = issues.reduce((n, i) => n + i.attachments.length - 1, 0);
    expect(await deliverQ.getFailedCount()).toBe(0);
    const actions = await actionsQ.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(new Set(actions.map((j) => (j.data as { uid: number }).uid)).size).toBe(N);
    process.stdout.write(`deliver-kill: ${N} mails, ${KILLS} kills (issues after each: ${progress.join(', ')}), ${N} issues, ${extraUploads} repeated attachment uploads, createIssue calls ${jira.sim.counters.count('createIssue')}\n`);
  });
});
