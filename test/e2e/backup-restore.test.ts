// Backup and restore, end to end, as docs/runbooks/backup-restore.md says to do it (issue 24,
// point 6): the resolver, provisioner and deliverer roles run a pipeline on a private
// redis-server (AOF on, as production) with the Jira simulator; the install is backed up (BGSAVE
// and a copy of dump.rdb, the mail store, the key file), wiped (server, data, store and key gone),
// and restored onto a fresh redis-server. The failed job, the audit trail and the token come
// back, and a mail run again after the restore is not delivered twice, including one delivered
// AFTER the snapshot (its ledger entry is lost; the restore step that makes the ledger young
// makes delivery look in Jira first). The CLI runs as a subprocess, as a person runs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config/load.js';
import { DEMO_MAILS } from '../../src/demo/run.js';
import { delivererRole } from '../../src/roles/stations.js';
import type { DeliverResult } from '../../src/deliver/deliverer.js';
import { startJiraSim, seedDemo, type JiraSim } from '../../src/jira-sim/index.js';
import { silentLogger } from '../../src/core/log.js';
import { prepareMail } from '../../src/mail/prepare.js';
import { bornKey } from '../../src/ledger/ledger.js';
import { createMailStore } from '../../src/mail/store.js';
import type { AuditEvent } from '../../src/queues/audit.js';
import { provisionerRole, resolverRole } from '../../src/roles/stations.js';
import { jiraDeliver, mailInbound } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { createRoleContext, type Stoppable } from '../../src/roles/runtime.js';
import { answers, freePort, redisServerInstalled, REDIS_SERVER_BIN } from '../../src/ops/own-redis.js';
import { loadSecretKey } from '../../src/token/key.js';
import { saveToken } from '../../src/token/store.js';
import { notice } from '../helpers/corpus.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const PREFIX = '{mailroom}';
const noRedisServer = !redisServerInstalled();
if (noRedisServer) notice('backup/restore test skipped: no redis-server binary (set REDIS_SERVER_BIN)');

/** A redis-server of this test's own on a folder it chooses (the restore needs that), stopped cleanly. */
interface Server {
  port: number;
  url: string;
  dir: string;
  stop(): Promise<void>;
}
async function serveRedis(dir: string, appendonly: boolean): Promise<Server> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', appendonly ? 'yes' : 'no', '--appendfsync', 'everysec'];
  args.push('--maxmemory-policy', 'noeviction', '--logfile', join(dir, 'redis.log'));
  const child: ChildProcess = spawn(REDIS_SERVER_BIN, args, { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(await answers(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on ${dir} did not start (see ${dir}/redis.log)`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM'); // a clean shutdown: the AOF is flushed
      await gone;
    },
  };
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const infoField = (info: string, field: string) => new RegExp(`^${field}:(\\S+)`, 'm').exec(info)?.[1];

let work: string;
let keyFile: string;
let storeDir: string;
let configFile: string;
let sim: JiraSim;
let server: Server | undefined;
let redis: Redis | undefined;
let config: Config;
let adminEmail: string;
let roles: { ctx: ReturnType<typeof createRoleContext>; running: Stoppable[]; inbound: Queue; deliver: Queue } | undefined;

/** The environment a person's shell and the roles have: this server, the key as a file, no other Redis form. */
function env(): Record<string, string> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !k.startsWith('REDIS_') && !k.startsWith('MAILROOM_'))) as Record<string, string>;
  return { ...base, REDIS_URL: server!.url, MAILROOM_PREFIX: PREFIX, MAILROOM_SECRET_KEY_FILE: keyFile, MAILROOM_LOG_LEVEL: 'error' };
}

function cli(args: string[]): Promise<CliRun> {
  return runCli(args, { config: configFile, env: env() });
}

async function connect(s: Server): Promise<void> {
  server = s;
  redis?.disconnect();
  redis = new Redis(s.url, { maxRetriesPerRequest: null });
  config = loadConfig(configFile, env());
}

async function startRoles(): Promise<void> {
  const ctx = createRoleContext(config, silentLogger);
  const running: Stoppable[] = [];
  for (const start of [resolverRole(), provisionerRole(), delivererRole()]) running.push(await start(ctx));
  roles = { ctx, running, inbound: openQueue(mailInbound, { connection: redis!, prefix: PREFIX }), deliver: openQueue(jiraDeliver, { connection: redis!, prefix: PREFIX }) };
}

async function stopRoles(): Promise<void> {
  if (!roles) return;
  await Promise.allSettled(roles.running.reverse().map((r) => r.stop()));
  await roles.inbound.close();
  await roles.deliver.close();
  await roles.ctx.closeAll();
  roles = undefined;
}

type Origin = { kind: 'file'; name: string } | { kind: 'imap'; uidvalidity: string; uid: number; internalDate: string };
async function feed(file: string, mailboxId: string, origin: Origin = { kind: 'file', name: file }): Promise<string> {
  const record = await prepareMail(readFileSync(join(DEMO_MAILS, file)), createMailStore(config, redis!));
  await addJob(roles!.inbound, mailInbound, { mailboxId, origin, record, receivedAt: new Date().toISOString() }, config.queues);
  return record.messageId!;
}

/** The deliver job once finished (added after `since`, when given). */
async function finished(mailboxId: string, messageId: string, since = 0): Promise<Job> {
  const id = `deliver|${mailboxId}|${messageId}`;
  let job: Job | undefined;
  await waitFor(`${id} to finish`, async () => {
    const j = await roles!.deliver.getJob(id);
    if (!j || j.timestamp < since) return false;
    const state = await j.getState();
    if (state !== 'completed' && state !== 'failed') return false;
    job = await roles!.deliver.getJob(id);
    return true;
  }, 45_000);
  return job!;
}

async function audit(messageId: string): Promise<AuditEvent[]> {
  const r = await cli(['audit', messageId, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as AuditEvent[];
}

const issues = () => sim.state.allIssues();

describe.skipIf(noRedisServer)('backup and restore (docs/runbooks/backup-restore.md)', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mailroom-backup-'));
    keyFile = join(work, 'etc', 'token.key');
    storeDir = join(work, 'mail');
    configFile = join(work, 'mailroom.yml');
    mkdirSync(join(work, 'etc'));
    writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    sim = await startJiraSim({});
    const site = seedDemo(sim);
    adminEmail = site.admin.email;
    writeFileSync(
      configFile,
      [
        `jira: { site: "${sim.url}" }`,
        `store: { kind: fs, dir: "${storeDir}" }`,
        'mailboxes:',
        '  - id: support',
        '    addresses: [support@example.com]',
        '    policy: { autoCreate: user, products: [jira-software], groups: [support-customers] }',
        '    deliver: { project: SUP, issueType: Task }',
        // No deliver section: its mail fails for good, with a reason (a failed job to keep).
        '  - id: sales',
        '    addresses: [sales@example.com]',
        '    policy: { autoCreate: user, products: [jira-software], groups: [support-customers] }',
        '',
      ].join('\n'),
    );
    await connect(await serveRedis(join(work, 'redis-a'), true));
    await saveToken(redis!, PREFIX, loadSecretKey({ file: keyFile }), {
      token: site.admin.token,
      email: site.admin.email,
      accountId: site.admin.accountId,
      storedAt: new Date(),
      expiresAt: new Date(Date.now() + 365 * 86_400_000),
    });
    await startRoles();
  }, 60_000);

  afterAll(async () => {
    await stopRoles();
    redis?.disconnect();
    await server?.stop();
    await sim?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('keeps failed jobs, the audit trail and the token across a wipe, and delivers nothing twice after the restore', async () => {
    // ---- the install at work: one mail delivered, one failed for good ------------------------
    const delivered = await feed('07-html-with-attachment.eml', 'support');
    expect(((await finished('support', delivered)).returnvalue as DeliverResult).outcome).toBe('delivered');
    const failedId = await feed('02-known-user-vpn.eml', 'sales');
    expect((await finished('sales', failedId)).failedReason).toMatch(/mailbox "sales" has no deliver section/);
    expect(issues()).toHaveLength(1);

    // ---- back up: BGSAVE, copy dump.rdb; then the mail store; the key on its own --------------
    const backup = join(work, 'backup');
    mkdirSync(backup);
    const before = await redis!.lastsave();
    await new Promise((r) => setTimeout(r, 1_100)); // LASTSAVE has a one-second resolution
    await redis!.bgsave();
    await waitFor('BGSAVE', async () => (await redis!.lastsave()) !== before && infoField(await redis!.info('persistence'), 'rdb_bgsave_in_progress') === '0');
    expect(infoField(await redis!.info('persistence'), 'rdb_last_bgsave_status')).toBe('ok');
    const rdbDir = ((await redis!.config('GET', 'dir')) as string[])[1]!;
    cpSync(join(rdbDir, 'dump.rdb'), join(backup, 'dump.rdb'));
    cpSync(storeDir, join(backup, 'mail'), { recursive: true });
    cpSync(keyFile, join(backup, 'token.key'));

    // ---- after the snapshot: one more mail read from the inbox and delivered; the backup does not know it
    // It reached the mailbox after the ledger's birth (plus its slack): a ledger that vouches for it.
    const born = Number(await redis!.get(bornKey(PREFIX)));
    await waitFor('the ledger to be older than its slack', async () => Date.now() > born + 2_500);
    const lateOrigin: Origin = { kind: 'imap', uidvalidity: '1700000000', uid: 42, internalDate: new Date().toISOString() };
    const late = await feed('01-new-customer-printer.eml', 'support', lateOrigin);
    expect(((await finished('support', late)).returnvalue as DeliverResult).outcome).toBe('delivered');
    expect(issues()).toHaveLength(2);

    // ---- the wipe: roles stopped, Redis gone with its data, store and key gone ---------------
    await stopRoles();
    redis!.disconnect();
    await server!.stop();
    rmSync(join(work, 'redis-a'), { recursive: true, force: true });
    rmSync(storeDir, { recursive: true, force: true });
    rmSync(keyFile);

    // The trap the runbook warns of: a Redis 7 started with appendonly yes and no AOF ignores dump.rdb.
    const naiveDir = join(work, 'redis-naive');
    mkdirSync(naiveDir);
    cpSync(join(backup, 'dump.rdb'), join(naiveDir, 'dump.rdb'));
    const naive = await serveRedis(naiveDir, true);
    const probe = new Redis(naive.url);
    expect(await probe.dbsize()).toBe(0);
    probe.disconnect();
    await naive.stop();

    // ---- restore, as the runbook says ----------------------------------------------------------
    cpSync(join(backup, 'token.key'), keyFile);
    cpSync(join(backup, 'mail'), storeDir, { recursive: true });
    const restoredDir = join(work, 'redis-b');
    mkdirSync(restoredDir);
    cpSync(join(backup, 'dump.rdb'), join(restoredDir, 'dump.rdb'));
    const loading = await serveRedis(restoredDir, false); // AOF off while the RDB loads
    const admin = new Redis(loading.url);
    expect(await admin.dbsize()).toBeGreaterThan(0);
    await admin.config('SET', 'appendonly', 'yes'); // writes a new AOF from the loaded data
    await waitFor('the AOF rewrite', async () => {
      const info = await admin.info('persistence');
      return infoField(info, 'aof_enabled') === '1' && infoField(info, 'aof_rewrite_in_progress') === '0' && infoField(info, 'aof_rewrite_scheduled') === '0';
    });
    expect(infoField(await admin.info('persistence'), 'aof_last_bgrewrite_status')).toBe('ok');
    admin.disconnect();
    await loading.stop();
    // Started as production runs it (AOF on): the data comes from the AOF just written.
    rmSync(join(restoredDir, 'dump.rdb'));
    await connect(await serveRedis(restoredDir, true));
    expect(readdirSync(join(restoredDir, 'appendonlydir')).some((f) => f.endsWith('.manifest'))).toBe(true);
    // The snapshot is older than now: make the ledger young, so delivery looks before it creates
    // (the runbook's step: `mailroom restore-mark`, which reads the prefix as the roles do).
    // A mail is older than the ledger only when it arrived more than the slack (2 s) before its
    // birth: a restore comes long after the last mail; here it can come within a second.
    await waitFor('the mail delivered after the snapshot to be older than the slack', async () => Date.now() > Date.parse(lateOrigin.internalDate!) + 2_500);
    const bornBefore = Number(await redis!.get(bornKey(PREFIX)));
    expect(bornBefore).toBeGreaterThan(0);
    const mark = await cli(['restore-mark']);
    expect(mark.code, mark.stderr).toBe(0);
    expect(mark.stdout).toContain(`moved from ${new Date(bornBefore).toISOString()}`);
    expect(Number(await redis!.get(bornKey(PREFIX)))).toBeGreaterThan(bornBefore);

    // ---- what survived --------------------------------------------------------------------------
    const token = await cli(['token', 'status', '--json']);
    expect(token.code, token.stderr).toBe(0);
    // Stored, and readable with the restored key file.
    expect(JSON.parse(token.stdout)).toMatchObject({ stored: true, readable: true, account: { email: adminEmail } });
    const failedList = await cli(['failed', 'list', '--json']);
    expect(failedList.code).toBe(1); // found failed jobs
    const failedJobs = JSON.parse(failedList.stdout) as { ref: string; reason: string }[];
    expect(failedJobs).toEqual([expect.objectContaining({ ref: `jira-deliver/deliver|sales|${failedId}`, reason: expect.stringContaining('has no deliver section') })]);
    const shown = await cli(['failed', 'show', `jira-deliver/deliver|sales|${failedId}`]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('has no deliver section');
    const trail = await audit(delivered);
    expect(trail.filter((e) => e.step === 'delivered').map((e) => e.outcome)).toEqual(['ok']);
    expect(existsSync(storeDir)).toBe(true);

    // ---- mail run again after the restore: not delivered twice ---------------------------------
    await startRoles();
    // The mail the backup knows, run again by its jobs: its restored ledger entry answers.
    let since = Date.now();
    const r = await cli(['reprocess', '--message-id', delivered]);
    expect(r.code, r.stderr).toBe(0);
    const again = await finished('support', delivered, since);
    expect((again.returnvalue as DeliverResult).outcome, again.failedReason).toBe('duplicate');
    // The mail delivered after the snapshot, read again from the inbox as the poller does after a
    // restore (the restored Redis has neither its job nor its ledger entry): found in Jira, not made again.
    // A restore comes minutes after the last create; here it is seconds, inside the simulator's
    // index lag (Jira: seconds to minutes). The look reads what the index shows, and a look due
    // to the ledger's birth does not look again (a known gap: docs/state-loss.md), so wait, as a
    // real restore does, until Jira's search shows the issue made after the snapshot.
    await waitFor('Jira\'s search to show the issue made after the snapshot', async () => issues().every((i) => sim.state.searchable(i)));
    since = Date.now();
    await feed('01-new-customer-printer.eml', 'support', lateOrigin);
    const lateAgain = await finished('support', late, since);
    expect((lateAgain.returnvalue as DeliverResult).outcome, lateAgain.failedReason).toBe('duplicate');
    expect(issues()).toHaveLength(2);
  }, 240_000);
});
