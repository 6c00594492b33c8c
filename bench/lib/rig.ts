// The harness's own little world on loopback: a redis-server on a spare port, the Jira
// simulator (seeded, with latency), a throwaway Dovecot, the workaround token stored with the
// token API, a mailroom.yml, and the real role processes (`node --import tsx workers/<role>.ts`).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRedis, parseRedisTarget, type Redis } from '../../src/core/redis.js';
import { stringify } from 'yaml';
import { seedDemo, startJiraSim, type JiraSim, type SeededSite } from '../../src/jira-sim/index.js';
import { openTokenQueues, publish, resumeGate } from '../../src/token/gate.js';
import { loadSecretKey } from '../../src/token/key.js';
import { saveToken } from '../../src/token/store.js';
import { startDovecot, type Dovecot } from '../../test/helpers/dovecot.js';
import { startOwnRedis, type OwnRedis } from './redis-server.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The bench mailbox's receiving host: named in its policy.authservIds, written into every bench mail (mails.ts). */
export const BENCH_AUTHSERV_ID = 'mx.bench.example';
export type RoleName = 'poller' | 'resolver' | 'provisioner' | 'deliverer' | 'notifier';
export const ALL_ROLES: RoleName[] = ['poller', 'resolver', 'provisioner', 'deliverer'];
export const IMAP_PASSWORD_ENV = 'BENCH_IMAP_PASSWORD';
export const MAILBOX_ID = 'support';
export const SUPPORT_ADDRESS = 'support@example.test';

export interface RigOptions {
  latencyMs: number;
  jitterMs: number;
  /** AOF on the harness's Redis, so it can be restarted with its data (chaos). */
  persistRedis?: boolean;
  /** Extra mailroom.yml settings merged over the defaults (queues, poller...). */
  config?: Record<string, unknown>;
  /** The simulator's in-flight grace after a 429 (see JiraSimOptions.inFlightGraceMs). */
  simGraceMs?: number;
  /** The poller's resync interval (IDLE is only a hint). */
  resyncInterval?: string;
  /** Dovecot users: one mailbox per run keeps runs apart. */
  imapUsers?: string[];
  /**
   * How long the simulator keeps a new account unknown to group adds ("user not found", as on
   * a site with centralized user management; the simulator's default is 1 s). The throughput
   * and latency benches set 0: they measure Mailroom's own path, and the site's wait (one more
   * group add per new sender, retried with backoff) would come on top of every figure.
   */
  userPropagationMs?: number;
  /**
   * Run on this Redis (REDIS_SENTINELS + REDIS_SENTINEL_MASTER, or REDIS_CLUSTER_NODES) instead
   * of the harness's own redis-server (which is still started, idle, for `rig.redis`).
   */
  redisEnv?: Record<string, string>;
}

export interface RoleProcess {
  role: RoleName;
  child: ChildProcess;
  /** Last few KB of stderr, for failure reports. */
  stderr(): string;
  exited(): Promise<void>;
}

export interface Rig {
  redis: OwnRedis;
  /** A connection to the harness's Redis for queues and inspection. */
  conn: Redis;
  sim: JiraSim;
  site: SeededSite;
  dovecot: Dovecot;
  dir: string;
  secretKey: string;
  /** A fresh key prefix and config file for one run, token stored under it. */
  newRun(label: string, opts?: { imapUser?: string; config?: Record<string, unknown>; mailbox?: Record<string, unknown> }): Promise<Run>;
  /**
   * Store a (new) working token for the admin under a prefix, with the token API, as
   * `mailroom token set` does: save it, tell the processes, resume what the token gate paused.
   */
  storeToken(prefix: string, token?: string): Promise<void>;
  close(): Promise<void>;
}

export interface Run {
  prefix: string;
  configPath: string;
  imapUser: string;
  /**
   * Start a role process; `fast` shortens lock and stall checks so a killed role's jobs come back
   * in seconds; `built` runs dist/workers/<role>.js (after `npm run build`), as the Procfile does.
   */
  start(role: RoleName, opts?: { fast?: boolean; built?: boolean }): RoleProcess;
  running: Map<RoleName, RoleProcess>;
  /** SIGTERM (or SIGKILL) every role of this run and wait for them. */
  stopAll(signal?: NodeJS.Signals): Promise<void>;
}

// Roles that have a fast variant for crash drills (bench/lib/fast-role.ts).
const FAST_ROLES: RoleName[] = ['resolver', 'provisioner', 'deliverer'];

export async function startRig(o: RigOptions): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'mrbench-'));
  const redis = await startOwnRedis({ persist: o.persistRedis });
  const redisEnv = o.redisEnv ?? { REDIS_URL: redis.url };
  const conn: Redis = createRedis(parseRedisTarget(redisEnv).target!, { forWorker: true, name: 'mailroom-bench' });
  conn.on('error', () => undefined);
  const sim = await startJiraSim({ latencyMs: o.latencyMs, jitterMs: o.jitterMs, seed: 7, ...(o.simGraceMs ? { inFlightGraceMs: o.simGraceMs } : {}) });
  const site = seedDemo(sim);
  if (o.userPropagationMs !== undefined) sim.state.userPropagationMs = o.userPropagationMs;
  const users = (o.imapUsers ?? ['bench@example.test']).map((u) => ({ user: u, password: `pw-${randomBytes(6).toString('hex')}` }));
  const dovecot = await startDovecot({ users });
  const secretKey = randomBytes(32).toString('base64');
  const key = loadSecretKey({ base64: secretKey });
  const storeToken = (prefix: string, token?: string) => storeRigToken(conn, key, site, prefix, token);
  const world: World = { o, dir, redisEnv, sim, dovecot, users, secretKey, storeToken };
  return {
    redis,
    conn,
    sim,
    site,
    dovecot,
    dir,
    secretKey,
    storeToken,
    newRun: (label, ro = {}) => newRun(world, label, ro),
    async close() {
      conn.disconnect();
      await sim.close();
      await dovecot.stop();
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** What a run needs of its rig. */
interface World {
  o: RigOptions;
  dir: string;
  redisEnv: Record<string, string>;
  sim: JiraSim;
  dovecot: Dovecot;
  users: { user: string; password: string }[];
  secretKey: string;
  storeToken: Rig['storeToken'];
}

type RunOptions = Parameters<Rig['newRun']>[1] & {};

async function storeRigToken(conn: Redis, key: ReturnType<typeof loadSecretKey>, site: SeededSite, prefix: string, token?: string): Promise<void> {
  const version = await saveToken(conn, prefix, key, {
    token: token ?? site.admin.token,
    email: site.admin.email,
    accountId: site.admin.accountId,
    storedAt: new Date(),
    expiresAt: new Date(Date.now() + 30 * 86_400_000),
  });
  await publish(conn, prefix, { type: 'stored', version });
  const queues = openTokenQueues(conn, prefix);
  try {
    await resumeGate(conn, prefix, queues, `token stored by the harness (version ${version})`);
  } finally {
    await Promise.all(queues.map((q) => q.close()));
  }
}

async function newRun(w: World, label: string, ro: RunOptions): Promise<Run> {
  const prefix = `{mrbench-${label}-${randomBytes(3).toString('hex')}}`;
  const imapUser = ro.imapUser ?? w.users[0]!.user;
  const user = w.users.find((u) => u.user === imapUser)!;
  const runDir = join(w.dir, label);
  await mkdir(runDir, { recursive: true });
  const configPath = join(runDir, 'mailroom.yml');
  await writeFile(configPath, stringify(runConfig(w, runDir, imapUser, ro)));
  await w.storeToken(prefix);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.JIRA_BASE_URL;
  delete env.REDIS_URL;
  Object.assign(env, {
    ...w.redisEnv,
    MAILROOM_PREFIX: prefix,
    MAILROOM_SECRET_KEY: w.secretKey,
    MAILROOM_SECRET_KEY_FILE: '',
    MAILROOM_CONFIG: configPath,
    [IMAP_PASSWORD_ENV]: user.password,
  });
  return runOf(prefix, configPath, imapUser, env);
}

/** The run's mailroom.yml: one mailbox on the rig's Dovecot user, the rig's and the run's settings over it. */
function runConfig(w: World, runDir: string, imapUser: string, ro: RunOptions): Record<string, unknown> {
  const { o, sim, dovecot } = w;
  return {
    jira: { site: sim.url, timeout: '5s' },
    store: { kind: 'fs', dir: join(runDir, 'mail') },
    mailboxes: [
      {
        id: MAILBOX_ID,
        imap: { host: dovecot.host, port: dovecot.port, tls: false, user: imapUser, passwordEnv: IMAP_PASSWORD_ENV, folder: 'INBOX' },
        addresses: [SUPPORT_ADDRESS],
        after: { action: 'flag', flag: '$MailroomDone' },
        resyncInterval: o.resyncInterval ?? '20s',
        // Benchmark senders write many mails each, and a run makes 100 accounts in a minute:
        // the flood hold and the new-account ceilings (safety defaults) would only get in the way.
        policy: {
          autoCreate: 'user',
          groups: ['support-customers'],
          floodLimitPerHour: 1_000_000,
          maxNewAccountsPerHour: 1_000_000,
          maxNewAccountsPerSenderPerHour: 1_000_000,
          // The receiving host whose verdict the bench mails carry (bench/lib/mails.ts):
          // senders are verified, as genuine customers' mail is on a configured install.
          authservIds: [BENCH_AUTHSERV_ID],
        },
        deliver: { project: 'SUP' },
        ...ro.mailbox,
      },
    ],
    poller: { lockTtl: '3s', reconnectMin: '200ms', reconnectMax: '2s' },
    log: { level: 'warn' },
    ...o.config,
    ...ro.config,
  };
}

function runOf(prefix: string, configPath: string, imapUser: string, env: NodeJS.ProcessEnv): Run {
  const running = new Map<RoleName, RoleProcess>();
  return {
    prefix,
    configPath,
    imapUser,
    running,
    start(role, so = {}) {
      const p = spawnRole(env, role, so);
      running.set(role, p);
      return p;
    },
    async stopAll(signal = 'SIGTERM') {
      const all = [...running.values()];
      for (const p of all) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
      await Promise.all(all.map(async (p) => {
        const t = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
        await p.exited();
        clearTimeout(t);
      }));
      running.clear();
    },
  };
}

function spawnRole(env: NodeJS.ProcessEnv, role: RoleName, so: { fast?: boolean; built?: boolean }): RoleProcess {
  const args = so.built
    ? [join('dist', 'workers', `${role}.js`)]
    : so.fast && FAST_ROLES.includes(role)
      ? ['--import', 'tsx', join('bench', 'lib', 'fast-role.ts'), role]
      : ['--import', 'tsx', join('workers', `${role}.ts`)];
  // The node flags the Procfile gives this role (the poller's small young generation).
  const child = spawn(process.execPath, [...nodeFlagsOf(role), ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exit = new Promise<void>((r) => child.once('exit', () => r()));
  return { role, child, stderr: () => err, exited: () => exit };
}

/** The node flags the Procfile puts before a role's entry, so the bench measures what production runs. */
function nodeFlagsOf(role: string): string[] {
  const line = readFileSync(join(ROOT, 'Procfile'), 'utf8').split('\n').find((l) => l.startsWith(`${role}:`));
  return (line?.split(/\s+/) ?? []).filter((w) => w.startsWith('--'));
}
