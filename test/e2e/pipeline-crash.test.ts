// The resolver and the provisioner as processes (the roles workers/resolver.ts and
// workers/provisioner.ts run, on the token stored in Redis), killed with SIGKILL at random
// points while N mails from M senders go through, with the simulator injecting 5xx, 429
// bursts and dropped connections; then started again. Same outcome as a calm run: exactly the
// unknown senders get one account each, in every group; nothing left waiting, active or
// delayed; no duplicate create, no request inside a Retry-After window.
// Stalled-job detection is shortened so a killed process's jobs come back within a second.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWorkload, openPipelineQueues, seeded, settled } from '../helpers/sim-run.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { addJob } from '../../src/queues/queue.js';
import { startSeededSim, type SeededSim, storeAdminToken } from '../helpers/jira-sim.js';
import { dropPrefix, REDIS_ENV, testRedis, uniquePrefix } from '../helpers/redis.js';

// Scaled to about a minute here; bench/pipeline.ts runs the 2,000 / 300 / 100.
const MAILS = Number(process.env.PIPELINE_KILL_MAILS ?? 600);
const SENDERS = Math.round(MAILS * 0.15);
const UNKNOWN = Math.round(SENDERS / 3);
const KILLS = 8;
const GROUPS = ['jira-software-users', 'support-customers'];

let jira: SeededSim;
const redis = testRedis();
const prefix = uniquePrefix('pipe-kill');
const secretKey = randomBytes(32).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'mr-pipe-kill-'));
const queues = openPipelineQueues(redis, prefix);
const children = new Map<'resolver' | 'provisioner', ChildProcess>();
let stderr = '';
// passes: requests let through, each at the moment its gate check began (what it read of the
// windows is as of then; a process starved of CPU may send it later); trips: 429s counted;
// holds: the moments a process read a Retry-After header and closed the gate (the window Jira
// asked for starts there).
const gate = { passes: [] as number[], trips: [] as [number, number][], holds: [] as [number, number][] };

const entry = (role: 'resolver' | 'provisioner') => `
import { runRoles } from './src/roles/runtime.js';
import { ${role}Role } from './src/roles/stations.js';
const say = (line) => process.stderr.write(line + '\\n');
await runRoles('${role}', [${role}Role({
  lockDuration: 1000,
  stalledInterval: 500,
  retryAfterObserver: {
    onPass: (op, checkedAt) => say('GATE pass ' + checkedAt + ' ' + op),
    onTrip: (ms) => say('GATE trip ' + Date.now() + ' ' + ms),
    onHold: (ms, source) => { if (source === 'header') say('GATE hold ' + Date.now() + ' ' + ms); },
  },
})]);
`;

beforeAll(async () => {
  jira = await startSeededSim({ latencyMs: 3, jitterMs: 2 });
  await storeAdminToken(redis, prefix, secretKey, jira.site);
  writeFileSync(
    join(dir, 'mailroom.yml'),
    [
      'jira:',
      `  site: ${jira.sim.url}`,
      '  timeout: 3s',
      '  searchLagWindow: 2s', // the simulator here has no index lag: a lost create is looked for 2 s, not 150
      'mailboxes:',
      '  - id: support',
      '    addresses: [support@acme.example]',
      '    policy:',
      '      autoCreate: user',
      `      groups: [${GROUPS.join(', ')}]`,
      '      floodLimitPerHour: 100000',
      // Crash safety, not ceilings: these mails carry no sender verdict (unverified), and by
      // default only half the install's hourly ceiling (25 of 50) is theirs.
      '      maxNewAccountsPerHour: 1000',
      'queues:',
      '  mail-inbound: { attempts: 200, delay: 50ms, maxDelay: 1s }',
      '  identity-provision: { attempts: 200, delay: 50ms, maxDelay: 1s }',
      'log:',
      '  level: error',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  for (const c of children.values()) c.kill('SIGKILL');
  await Promise.all(queues.all.map((q) => q.close()));
  await dropPrefix(redis, prefix);
  await redis.quit();
  await jira.close();
});

function start(role: 'resolver' | 'provisioner'): ChildProcess {
  const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', entry(role)], {
    cwd: process.cwd(),
    env: { ...process.env, ...REDIS_ENV, MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: secretKey, MAILROOM_SECRET_KEY_FILE: '', MAILROOM_CONFIG: join(dir, 'mailroom.yml') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let partial = '';
  c.stderr!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^GATE (pass|trip|hold) (\d+) (\S+)/.exec(line);
      if (!m) stderr = (stderr + line + '\n').slice(-4000);
      else if (m[1] === 'pass') gate.passes.push(Number(m[2]));
      else (m[1] === 'trip' ? gate.trips : gate.holds).push([Number(m[2]), Number(m[3])]);
    }
  });
  children.set(role, c);
  return c;
}

function exited(c: ChildProcess): Promise<void> {
  return c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('resolver and provisioner killed with SIGKILL at random points', () => {
  it(`${MAILS} mails from ${SENDERS} senders (${UNKNOWN} unknown): exactly ${UNKNOWN} accounts, in every group`, { timeout: 170_000 }, async () => {
    const w = makeWorkload({ mails: MAILS, senders: SENDERS, unknown: UNKNOWN, mailboxId: 'support', to: 'support@acme.example', seed: 11, tag: 'kill' });
    for (const email of w.known) jira.sim.state.addAccount({ email, displayName: email, products: ['jira-software'] });
    const before = jira.sim.state.accounts.size;
    jira.sim.faults.set({ errorRate: 0.1 });
    jira.sim.counters.reset();

    start('resolver');
    start('provisioner');
    const rand = seeded(5);
    // Mails arrive over the first seconds, while the processes are being killed.
    const feeding = (async () => {
      for (let i = 0; i < w.mails.length; i += 50) {
        await Promise.all(w.mails.slice(i, i + 50).map((m) => addJob(queues.mailInbound, mailInbound, m)));
        await sleep(150);
      }
    })();
    for (let k = 0; k < KILLS; k++) {
      // Faults land between kills: a 429 answered to a process killed before it could tell
      // the others would be a different (and unavoidable) story.
      const pause = 300 + Math.floor(rand() * 1200);
      await sleep(pause / 2);
      if (k % 3 === 1) jira.sim.faults.rateLimit({ count: 2, retryAfterSec: 1 });
      if (k % 3 === 2) jira.sim.faults.drop(2);
      await sleep(pause / 2);
      const role = rand() < 0.5 ? 'resolver' : 'provisioner';
      const c = children.get(role)!;
      c.kill('SIGKILL');
      await exited(c);
      start(role);
    }
    await feeding;

    const counts = await settled(queues, { timeoutMs: 120_000, pollMs: 250 }).catch((e: Error) => {
      throw new Error(`${e.message}\nstderr: ${stderr}`);
    });
    for (const c of children.values()) {
      c.kill('SIGTERM');
      await exited(c);
    }

    expect(counts['mail.completed']).toBe(MAILS);
    expect(counts['mail.failed']).toBe(0);
    expect(counts['provision.failed']).toBe(0);
    expect(jira.sim.state.accounts.size - before).toBe(UNKNOWN);
    for (const email of w.unknown) {
      const a = jira.sim.state.accountsByEmail(email);
      expect(a, email).toHaveLength(1);
      for (const g of GROUPS) expect(jira.sim.state.group({ name: g })!.members.has(a[0]!.accountId), `${email} in ${g}`).toBe(true);
    }
    const c = jira.sim.counters;
    console.log(
      `pipeline-crash: ${MAILS} mails, ${KILLS} kills; user searches ${c.count('findUsers', 200)} (unique senders ${SENDERS}), ` +
        `creates ${c.count('createUser', 201)}, requests ${c.count()}, earlyRetry ${c.violations('earlyRetry')} ${JSON.stringify(c.violationLog('earlyRetry').map((v) => v.detail))}`,
    );
    expect(c.count('createUser', 201)).toBe(UNKNOWN);
    expect(c.violations('createExisting'), JSON.stringify(c.violationLog('createExisting'))).toBe(0);
    expect(c.violations('createAfterAnonymousSearch')).toBe(0);
    // No request left any process once a 429 was known (to the process that got it, or through
    // Redis to the others), until its window had passed.
    expect(gate.trips.length).toBeGreaterThan(0);
    expect(gate.holds.length).toBeGreaterThan(0);
    // The window runs from the header's reading to Retry-After later (a trip is logged once the
    // body is read, later under load, so it cannot mark the window's start). The README's
    // promise: no request leaves any process more than 25 ms after another read the header; a
    // request counts from its check's start, since a check that began before the news could
    // not see it, however long the machine then kept that process from sending (a full run beside a
    // busy loop once logged one such send as a pass inside the window).
    const inWindow = gate.passes.filter((t) => gate.holds.some(([at, ms]) => t > at + 25 && t < at + ms));
    expect(inWindow).toEqual([]);
    const early = c.violationLog('earlyRetry').map((v) => 1000 - Number(/request (\d+) ms/.exec(v.detail)?.[1] ?? 0));
    const lastPassBefore = (t: number) => Math.max(...gate.passes.filter((p) => p <= t));
    console.log(`simulator earlyRetry: ${early.length} (ms after the 429: ${early.join(', ')}); trips at ${JSON.stringify(gate.trips)}; passes near them: ${JSON.stringify(gate.trips.map(([at]) => gate.passes.filter((p) => p > at - 400 && p < at + 1200).map((p) => p - at)))}; last pass ${lastPassBefore(Date.now())}`);
    expect(await queues.jiraDeliver.count()).toBe(MAILS);
  });
});
