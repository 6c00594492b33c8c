// `npm run bench -- --quick` as a user runs it: it must finish, print its table and write a
// results file holding every figure with its workload size and the machine. The values
// themselves are not judged here (speed belongs in the benchmark, not in assertions).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dovecotUnavailable } from '../helpers/dovecot.js';
import { notice } from '../helpers/corpus.js';

const redisServer = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].some((p) => existsSync(p));
const why = dovecotUnavailable() ?? (redisServer ? undefined : 'redis-server is not installed (the benchmark starts its own)');
if (why) notice(`bench --quick test skipped: ${why}`);

let dir = '';
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

describe.skipIf(!!why)('bench --quick', () => {
  it('prints the table and writes every figure beside its workload and the machine', { timeout: 170_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'mr-bench-quick-'));
    const out = join(dir, 'results.json');
    const r = await run(['--quick', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    for (const label of ['BullMQ ceiling', 'end to end', 'append -> issue created', 'Jira calls per delivered mail', 'Jira calls per mail', 'poller peak RSS', 'deliverer event-loop delay', 'Redis bytes per queued mail', 'new sender: first append -> account ready', 'outbound customer mails']) {
      expect(r.stdout).toContain(label);
    }
    const res = JSON.parse(await readFile(out, 'utf8'));
    expect(res.mode).toBe('quick');
    expect(res.machine).toMatchObject({ cpuModel: expect.any(String), cores: expect.any(Number), node: process.version, redis: expect.stringMatching(/^\d+\.\d+/) });
    expect(res.jiraSim).toEqual({ latencyMs: 20, jitterMs: 10 });
    expect(isNum(res.bullmq.jobs) && isNum(res.bullmq.addPerSec) && isNum(res.bullmq.processPerSec)).toBe(true);
    if ('skipped' in res.parse) notice(`bench --quick: parse figure skipped (${res.parse.skipped})`);
    else for (const k of ['mails', 'bytes', 'mailroomMailsPerSec', 'mailroomMBps', 'bareMailsPerSec', 'bareMBps']) expect(isNum(res.parse[k]), k).toBe(true);
    for (const k of ['mails', 'senders', 'newSenders', 'pollerMailsPerSec', 'resolveMailsPerSec', 'deliverMailsPerSec', 'endToEndMails', 'endToEndMailsPerSec']) expect(isNum(res.stages[k]), k).toBe(true);
    for (const k of ['poller', 'resolve', 'deliver', 'endToEnd']) expect(isNum(res.stages.ratioToCeiling[k]), k).toBe(true);
    expect(res.stages.mails).toBeGreaterThan(0);
    // Mail without attachments: one create carrying its property, no search (issue #13: at most 1.1).
    expect(res.stages.deliverCallsPerMail).toBeLessThanOrEqual(1.1);
    for (const k of ['appendToEnqueued', 'enqueuedToAccountReady', 'appendToIssue']) {
      // Every paced mail was measured at every step.
      expect(res.latencyMs[k].n, k).toBe(res.latencyMs.mails);
      for (const p of ['p50', 'p95', 'p99']) expect(isNum(res.latencyMs[k][p]), `${k}.${p}`).toBe(true);
    }
    for (const k of ['mails', 'uniqueSenders', 'callsPerMail', 'userSearchesPerUniqueSender']) expect(isNum(res.jira[k]), k).toBe(true);
    expect(res.jira.byOperation).toHaveProperty(['findUsers 200']);
    for (const k of ['mailBytes', 'baselineRssMB', 'idleRssMB', 'peakHwmMB']) expect(isNum(res.pollerRss[k]), k).toBe(true);
    expect(res.pollerRss.peakHwmMB).toBeGreaterThan(0);
    for (const k of ['p50', 'p99', 'max']) expect(isNum(res.htmlDelivery.eventLoopDelayMs[k]), k).toBe(true);
    expect(res.htmlDelivery.mailMB).toBeGreaterThan(1);
    for (const k of ['queuedMails', 'bytesPerMailAllKeys', 'bytesPerMailJobKeys']) expect(isNum(res.redis[k]), k).toBe(true);
    expect(res.redis.queuedMails).toBeGreaterThan(0);
    // The new-sender burst (issue #25): every new sender measured at every step.
    const burst = res.newSenderBurst;
    expect(burst.newSenders).toBeGreaterThan(0);
    expect(burst.firstAppendToAccountReady.n).toBe(burst.newSenders);
    // Each hand-over stamped for every new sender: the mail store's files, the simulator's
    // answers (sim.onAnswer) and the job timestamps. Timing is printed, never asserted.
    for (const k of ['appendToEnqueued', 'enqueuedToProvisionAdded', 'provisionQueueWait', 'provisionRun', 'appendToFetched', 'fetchedToParsed', 'parsedToEnqueued', 'enqueuedToLookupSent', 'lookupSentToProvisionAdded', 'provisionStartToCreateAnswered', 'createAnsweredToAccountReady']) expect(burst.steps[k].n, k).toBe(burst.newSenders);
    expect(typeof burst.targetMet).toBe('boolean');
    expect(burst.provisionCallsPerNewSender).toBe(2);
    // Customer mails (issue #26): one per agent's comment, each taken by the SMTP server once.
    expect(res.customerMails).toMatchObject({ issues: 20, mails: 20, exactlyOnce: true, missing: 0, repeated: 0, unexpected: 0 });
    for (const k of ['mailsPerSec', 'commentsQueuedPerSec', 'jiraCallsPerMail']) expect(isNum(res.customerMails[k]), k).toBe(true);
  });
});
