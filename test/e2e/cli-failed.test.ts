// `mailroom failed …` and `mailroom status` as a person runs them: the CLI is a subprocess with
// its own config file and prefix; real workers fail mail on purpose, and then succeed once a
// flag in Redis says the cause is fixed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue, Worker } from 'bullmq';
import { identityProvision, mailInbound } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startWorker } from '../../src/station/worker.js';
import { PermanentError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { writeHeartbeat } from '../../src/imap/heartbeat.js';
import type { MailRecord } from '../../src/mail/record.js';
import { dropPrefix, REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { ROOT, runCli, type CliRun as Run } from '../helpers/cli.js';

const prefix = uniquePrefix('clifailed');
const redis = testRedis({ forWorker: true });
const fixedKey = `${prefix}:test:fixed`;
let dir: string;
let configFile: string;
let inbound: Queue;
let provision: Queue;
const workers: Worker[] = [];


function cli(...args: string[]): Promise<Run> {
  return runCli(args, { config: configFile, env: { ...process.env, MAILROOM_PREFIX: prefix, REDIS_URL, MR_TEST_IMAP_PASSWORD: 'pw-not-used' }, timeoutMs: 150_000 });
}

function record(n: number, from: string, subject: string): MailRecord {
  return {
    v: 1,
    rawRef: { sha256: createHash('sha256').update(`mail ${n}`).digest('hex'), size: 1000 + n },
    messageId: `<m${n}@example.com>`,
    references: [],
    subject,
    from: { address: from },
    replyTo: [],
    to: [{ address: 'support@example.org' }],
    cc: [],
    text: 'hello',
    textTruncated: false,
    fromHtml: false,
    attachments: [],
    attachmentsTruncated: false,
    headers: {},
    classification: { kind: 'human', reason: 'no automation headers' },
  };
}

async function addMail(uid: number, from: string, subject: string) {
  await addJob(inbound, mailInbound, {
    mailboxId: 'support',
    origin: { kind: 'imap', uidvalidity: '1', uid },
    record: record(uid, from, subject),
    receivedAt: new Date().toISOString(),
  });
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const counts = async (q: Queue) => q.getJobCounts('failed', 'completed', 'waiting', 'active', 'delayed');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mailroom-cli-failed-'));
  configFile = join(dir, 'mailroom.yml');
  writeFileSync(
    configFile,
    'jira:\n  site: http://127.0.0.1:9\nmailboxes:\n  - id: support\n  - id: sales\n' +
      '    imap: { host: 127.0.0.1, port: 9, tls: false, user: sales, passwordEnv: MR_TEST_IMAP_PASSWORD }\n',
  );
  inbound = openQueue(mailInbound, { connection: redis, prefix });
  provision = openQueue(identityProvision, { connection: redis, prefix });
  const deps = { connection: redis, prefix, logger: silentLogger, concurrency: 4 };
  // Mail whose subject says "blocked" fails for good until the fix flag is set; "doomed" always fails.
  workers.push(
    startWorker(
      mailInbound,
      async (data) => {
        if (data.record.subject.includes('doomed')) throw new PermanentError('doomed: unparseable beyond repair');
        if (data.record.subject.includes('blocked') && !(await redis.get(fixedKey))) {
          throw new PermanentError(`policy refused sender ${data.record.from?.address}: domain blocked`);
        }
        return 'ok';
      },
      deps,
    ),
    startWorker(
      identityProvision,
      async (data) => {
        if (!(await redis.get(fixedKey))) throw new PermanentError(`Jira refused to create ${data.email}: 400 products invalid`);
        return 'created';
      },
      deps,
    ),
  );
  await addMail(1, 'ann@example.com', 'printer blocked');
  await addMail(2, 'ann@example.com', 'still blocked');
  await addMail(3, 'bob@example.net', 'blocked again');
  await addMail(4, 'carol@example.com', 'all fine');
  await addJob(provision, identityProvision, {
    site: 'acme.atlassian.net',
    email: 'ann@example.com',
    mode: 'user',
    mailboxId: 'support',
  });
  await until('four failed jobs', async () => (await counts(inbound)).failed === 3 && (await counts(provision)).failed === 1);
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await inbound.close();
  await provision.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

// Each test starts several CLI processes (tsx compiles on start): generous on a loaded 2-core box.
describe('mailroom failed', { timeout: 240_000 }, () => {
  it('lists every failed job with sender and subject, newest first, exit 1 when some match', async () => {
    const r = await cli('failed', 'list', '--json');
    expect(r.code).toBe(1);
    const jobs = JSON.parse(r.stdout) as { ref: string; sender?: string; subject?: string; reason: string; failedAt: string }[];
    expect(jobs.map((j) => j.ref).sort()).toEqual(
      [
        'identity-provision/provision|acme.atlassian.net|ann@example.com',
        'mail-inbound/support:1:1',
        'mail-inbound/support:1:2',
        'mail-inbound/support:1:3',
      ].sort(),
    );
    const first = jobs.find((j) => j.ref === 'mail-inbound/support:1:1')!;
    expect(first).toMatchObject({ sender: 'ann@example.com', subject: 'printer blocked' });
    expect(first.reason).toContain('domain blocked');
    const times = jobs.map((j) => j.failedAt);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('filters by sender, reason, queue and age', async () => {
    const [senderRun, reasonRun, queueRun, none, human] = await Promise.all([
      cli('failed', 'list', '--sender', 'ANN@example.com', '--json'),
      cli('failed', 'list', '--reason', 'products', '--json'),
      cli('failed', 'list', '--queue', 'mail-inbound', '--sender', 'bob@example.net', '--json'),
      cli('failed', 'list', '--reason', 'no such reason'),
      cli('failed', 'list', '--since', '1h'),
    ]);
    const bySender = JSON.parse(senderRun.stdout) as { ref: string }[];
    expect(bySender.map((j) => j.ref).sort()).toEqual([
      'identity-provision/provision|acme.atlassian.net|ann@example.com',
      'mail-inbound/support:1:1',
      'mail-inbound/support:1:2',
    ]);
    const byReason = JSON.parse(reasonRun.stdout) as { ref: string }[];
    expect(byReason.map((j) => j.ref)).toEqual(['identity-provision/provision|acme.atlassian.net|ann@example.com']);
    const byQueue = JSON.parse(queueRun.stdout) as { ref: string }[];
    expect(byQueue.map((j) => j.ref)).toEqual(['mail-inbound/support:1:3']);
    expect(none.code).toBe(0);
    expect(none.stderr).toContain('no failed jobs match');
    // Human output: a table naming the jobs as they can be pasted back.
    expect(human.stdout).toMatch(/^JOB\s+FAILED AT/m);
    expect(human.stdout).toContain('mail-inbound/support:1:3');
    expect(human.stdout).toContain('bob@example.net');
  });

  it('refuses bad arguments with exit 2', async () => {
    const [since, reason, queue, noTarget, both] = await Promise.all([
      cli('failed', 'list', '--since', 'yesterday'),
      cli('failed', 'list', '--reason', '('),
      cli('failed', 'list', '--queue', 'nope'),
      cli('failed', 'retry'),
      cli('failed', 'retry', 'mail-inbound/support:1:1', '--all'),
    ]);
    expect([since.code, reason.code, queue.code, noTarget.code, both.code]).toEqual([2, 2, 2, 2, 2]);
    expect(since.stderr).toContain('--since "yesterday" is not a duration');
    expect(noTarget.stderr).toContain('--all');
  });

  it('shows one job: reason, attempts, sender, subject and the raw-store pointer, by ref or bare id', async () => {
    const r = await cli('failed', 'show', 'mail-inbound/support:1:2');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/state\s+failed/);
    expect(r.stdout).toMatch(/sender\s+ann@example\.com/);
    expect(r.stdout).toMatch(/subject\s+still blocked/);
    expect(r.stdout).toMatch(/attempts\s+1 of 20/);
    expect(r.stdout).toContain(`sha256:${createHash('sha256').update('mail 2').digest('hex')} (1002 bytes)`);
    expect(r.stdout).toContain('error, attempt 1');
    expect(r.stdout).toContain('domain blocked');
    const bare = JSON.parse((await cli('failed', 'show', 'provision|acme.atlassian.net|ann@example.com', '--json')).stdout) as { queue: string; stacktrace: string[] };
    expect(bare.queue).toBe('identity-provision');
    expect(bare.stacktrace.length).toBe(1);
    const missing = await cli('failed', 'show', 'mail-inbound/support:9:9');
    expect(missing.code).toBe(1);
  });

  it('retries one job, then all with --dry-run, then all for real, and they complete', async () => {
    await redis.set(fixedKey, '1');
    const one = await cli('failed', 'retry', 'mail-inbound/support:1:1');
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('retried 1');
    await until('the retried job to complete', async () => (await inbound.getJob('support:1:1'))?.finishedOn !== undefined && (await inbound.getJob('support:1:1'))!.returnvalue === 'ok');
    expect(await (await inbound.getJob('support:1:1'))!.getState()).toBe('completed');

    // A second run of the same retry is harmless: the job is no longer failed.
    const again = await cli('failed', 'retry', 'mail-inbound/support:1:1', 'mail-inbound/support:1:99');
    expect(again.stdout).toContain('1 no longer failed');
    expect(again.stderr).toContain('mail-inbound/support:1:99: missing');
    expect(again.code).toBe(1);

    const dry = await cli('failed', 'retry', '--all', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    expect((JSON.parse(dry.stdout) as { jobs: string[] }).jobs.sort()).toEqual([
      'identity-provision/provision|acme.atlassian.net|ann@example.com',
      'mail-inbound/support:1:2',
      'mail-inbound/support:1:3',
    ]);
    expect((await counts(inbound)).failed).toBe(2);
    expect((await counts(provision)).failed).toBe(1);

    const all = await cli('failed', 'retry', '--all', '--json');
    expect(all.code).toBe(0);
    const report = JSON.parse(all.stdout) as { counts: { retried: number }; interrupted: boolean };
    expect(report.counts.retried).toBe(3);
    expect(report.interrupted).toBe(false);
    expect(all.stderr).not.toContain('['); // no progress bar when piped
    await until('every retried job to complete', async () => {
      const [i, p] = [await counts(inbound), await counts(provision)];
      return i.failed === 0 && i.completed === 4 && p.failed === 0 && p.completed === 1;
    });
    expect((await cli('failed', 'list')).code).toBe(0);
  });

  it('removes failed jobs by filter, after a dry run, and prunes only old ones', async () => {
    await addMail(5, 'dan@example.com', 'doomed one');
    await addMail(6, 'dan@example.com', 'doomed two');
    await until('two doomed failures', async () => (await counts(inbound)).failed === 2);
    const prune = await cli('failed', 'prune', '--older-than', '1h', '--json');
    expect((JSON.parse(prune.stdout) as { counts: { removed: number } }).counts.removed).toBe(0);
    const dry = await cli('failed', 'remove', '--all', '--reason', 'doomed', '--dry-run');
    expect(dry.stdout).toContain('would remove mail-inbound/support:1:5');
    expect(dry.stdout).toContain('2 job(s) would be removed');
    expect((await counts(inbound)).failed).toBe(2);
    const rm = await cli('failed', 'remove', '--all', '--sender', 'dan@example.com');
    expect(rm.code).toBe(0);
    expect(rm.stdout).toContain('removed 2');
    expect((await counts(inbound)).failed).toBe(0);
    expect(await inbound.getJob('support:1:5')).toBeUndefined();
  });

  it('status shows the queues with counts by state, mailbox heartbeats and the token state', async () => {
    await writeHeartbeat(redis, prefix, { mailboxId: 'sales', state: 'idle', lastSyncAt: '2026-11-28T10:00:00.000Z' });
    const [r, human] = await Promise.all([cli('status', '--json'), cli('status')]);
    // No token is stored in this install: not well, exit 1.
    expect(r.code).toBe(1);
    const s = JSON.parse(r.stdout) as {
      queues: { queue: string; counts: Record<string, number> }[];
      mailboxes: { mailboxId: string; state: string; verdict: { ok: boolean } }[];
      token: { stored: boolean; verdict: { ok: boolean; detail: string } };
    };
    expect(s.queues.map((q) => q.queue)).toContain('identity-provision');
    expect(s.queues.find((q) => q.queue === 'mail-inbound')!.counts).toMatchObject({ completed: 4, failed: 0 });
    // Only IMAP mailboxes have pollers: `support` (file-only) is not listed.
    expect(s.mailboxes.map((m) => [m.mailboxId, m.state, m.verdict.ok])).toEqual([['sales', 'idle', true]]);
    expect(s.token).toMatchObject({ stored: false, verdict: { ok: false } });
    expect(JSON.stringify(s.token)).not.toContain('sealed');
    expect(human.stdout).toMatch(/^mail-inbound\s+0\s+0\s+0\s+0\s+0\s+4\s+0/m);
    expect(human.stdout).toMatch(/^sales\s+idle\s+\d+ s ago\s+2026-11-28T10:00:00.000Z/m);
    expect(human.stdout).toContain('token: NOT USABLE - no workaround token is stored');
  });

  it('says Redis is unreachable with exit 3, naming it without its password', async () => {
    for (const args of [['failed', 'list'], ['status'], ['mailboxes'], ['reprocess', '--message-id', 'x@example.com']]) {
      const r = await new Promise<Run>((done) =>
        execFile(
          process.execPath,
          ['--import', 'tsx', 'src/cli/main.ts', '--config', configFile, ...args],
          { cwd: ROOT, env: { ...process.env, MAILROOM_PREFIX: prefix, REDIS_URL: 'redis://:hunter2@127.0.0.1:1', MR_TEST_IMAP_PASSWORD: 'x' } },
          (error, stdout, stderr) => done({ code: error ? Number((error as { code?: number }).code) : 0, stdout, stderr }),
        ),
      );
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('cannot reach Redis at redis://****@127.0.0.1:1');
      expect(r.stderr).not.toContain('hunter2');
    }
  });

  it('has --help with examples on every failed subcommand', async () => {
    const subs = ['list', 'show', 'retry', 'remove', 'prune'];
    const runs = await Promise.all([...subs.map((sub) => cli('failed', sub, '--help')), cli('status', '--help')]);
    for (const r of runs) {
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Examples:');
    }
  });
});
