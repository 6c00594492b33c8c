// Real Redis topologies on loopback ports, each in a temp dir, for the tests and CI: a 3-node
// Redis Cluster, and a primary + replica watched by 3 Sentinels. `env` is what a Mailroom
// process needs to use one (REDIS_CLUSTER_NODES, or REDIS_SENTINELS + REDIS_SENTINEL_MASTER).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './dovecot.js';

const run = promisify(execFile);
const SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RedisForm {
  form: 'cluster' | 'sentinel';
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface SentinelForm extends RedisForm {
  form: 'sentinel';
  /** The port of the data node the sentinels call primary now. */
  primaryPort(): Promise<number>;
  /** SIGKILL the current primary, wait until the sentinels promoted the replica, then restart the old one (it rejoins as a replica). */
  killPrimary(): Promise<{ from: number; to: number }>;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run(CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout.trim();
}

async function waitFor(what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await ok()) return;
    } catch (e) {
      if ((e as Error).message.startsWith('redis-server exited')) throw e;
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// Why a server exited is in its log file (stderr is empty once the log is open): the tail is
// printed, and kept on the process for the error the wait throws, so a red CI run names the
// cause (a full temp disk, a taken cluster-bus port) instead of only "exited with 1".
function launch(dir: string, args: string[], log: string): ChildProcess {
  const c = spawn(SERVER, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  c.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  c.once('exit', (code, signal) => {
    if (!code) return;
    const tail = logTail(log);
    (c as ChildProcess & { why?: string }).why = (err + tail).trim();
    process.stderr.write(`redis-server ${args.slice(0, 2).join(' ')} exited with ${code ?? signal} (a taken port is retried):\n${err}${tail}\n`);
  });
  return c;
}

function logTail(log: string): string {
  try {
    return readFileSync(log, 'utf8').split('\n').slice(-8).join('\n');
  } catch (e) {
    return `(no log at ${log}: ${(e as Error).message})`;
  }
}

/** Throws (ending the wait) when the server has exited: its port was taken. */
function alive(c: ChildProcess): boolean {
  if (c.exitCode !== null || c.signalCode !== null) throw new Error(`redis-server exited (${c.exitCode ?? c.signalCode}): ${(c as ChildProcess & { why?: string }).why ?? ''}`);
  return true;
}

/** Whether each port can be listened on now on loopback (a cluster node also binds port + 10000). */
async function allFree(list: number[]): Promise<boolean> {
  for (const port of list) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (!ok) return false;
  }
  return true;
}

async function ports(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

const dataLog = (port: number, dir: string) => join(dir, `redis-${port}.log`);
const dataArgs = (port: number, dir: string) => ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--logfile', dataLog(port, dir)];

async function stopAll(children: ChildProcess[], dir: string): Promise<void> {
  await Promise.all(
    children.map((c) =>
      c.exitCode !== null || c.signalCode !== null ? undefined : new Promise<void>((r) => { c.once('exit', () => r()); c.kill('SIGKILL'); }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
}

// A port picked free can be taken by another process before redis-server binds it (the
// machine is shared): start the whole topology again on fresh ports, up to five times.
async function retrying<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt >= 5) throw e;
    }
  }
}

export function startCluster(): Promise<RedisForm> {
  return retrying(startClusterOnce);
}

export function startSentinel(): Promise<SentinelForm> {
  return retrying(startSentinelOnce);
}

async function startClusterOnce(): Promise<RedisForm> {
  const dir = mkdtempSync(join(tmpdir(), 'mr-cluster-'));
  // Cluster nodes also use port + 10000 for their bus: keep that below 65536.
  let p = await ports(3);
  while (p.some((port) => port > 55_000) || !(await allFree(p.map((port) => port + 10_000)))) p = await ports(3);
  const children = p.map((port) => launch(dir, [...dataArgs(port, dir), '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'], dataLog(port, dir)));
  try {
    for (const [i, port] of p.entries()) await waitFor(`cluster node ${port}`, async () => alive(children[i]!) && (await cli(port, 'ping')) === 'PONG');
    await run(CLI, ['--cluster', 'create', ...p.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    for (const port of p) await waitFor(`cluster state ok on ${port}`, async () => (await cli(port, 'cluster', 'info')).includes('cluster_state:ok'));
  } catch (e) {
    await stopAll(children, dir);
    throw e;
  }
  return {
    form: 'cluster',
    env: { REDIS_CLUSTER_NODES: p.map((port) => `127.0.0.1:${port}`).join(',') },
    stop: () => stopAll(children, dir),
  };
}

async function startSentinelOnce(): Promise<SentinelForm> {
  const dir = mkdtempSync(join(tmpdir(), 'mr-sentinel-'));
  const [a, b, ...s] = await ports(5);
  const data = new Map<number, ChildProcess>();
  const sentinels: ChildProcess[] = [];
  const master = 'mailroom';
  const startData = (port: number, replicaOf?: number) => {
    const args = dataArgs(port, dir);
    if (replicaOf) args.push('--replicaof', '127.0.0.1', String(replicaOf));
    data.set(port, launch(dir, args, dataLog(port, dir)));
  };
  const all = () => [...data.values(), ...sentinels];
  try {
    startData(a!);
    startData(b!, a);
    for (const port of [a!, b!]) await waitFor(`data node ${port}`, async () => alive(data.get(port)!) && (await cli(port, 'ping')) === 'PONG');
    for (const port of s) {
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `logfile ${join(dir, `sentinel-${port}.log`)}`,
          `sentinel monitor ${master} 127.0.0.1 ${a} 2`,
          // Fast failover for tests: down after 1 s, a new failover may start after 3 s.
          `sentinel down-after-milliseconds ${master} 1000`,
          `sentinel failover-timeout ${master} 3000`,
          `sentinel parallel-syncs ${master} 1`,
          '',
        ].join('\n'),
      );
      sentinels.push(launch(dir, [conf, '--sentinel'], join(dir, `sentinel-${port}.log`)));
    }
    for (const port of s) {
      await waitFor(`sentinel ${port} sees the replica`, async () => /num-slaves\n1\b/.test(await cli(port, 'sentinel', 'master', master)) || (await cli(port, 'sentinel', 'replicas', master)).includes(String(b)));
    }
    await waitFor('replica in sync', async () => (await cli(b!, 'info', 'replication')).includes('master_link_status:up'));
  } catch (e) {
    await stopAll(all(), dir);
    throw e;
  }
  const primaryPort = async () => Number((await cli(s[0]!, 'sentinel', 'get-master-addr-by-name', master)).split('\n')[1]);
  return {
    form: 'sentinel',
    env: { REDIS_SENTINELS: s.map((port) => `127.0.0.1:${port}`).join(','), REDIS_SENTINEL_MASTER: master },
    primaryPort,
    async killPrimary() {
      const from = await primaryPort();
      const victim = data.get(from)!;
      await new Promise<void>((r) => {
        victim.once('exit', () => r());
        victim.kill('SIGKILL');
      });
      await waitFor('a promoted replica', async () => {
        const now = await primaryPort();
        return now !== from && (await cli(now, 'info', 'replication')).includes('role:master');
      });
      const to = await primaryPort();
      // Every sentinel names the new primary before the old one comes back: a sentinel that has
      // not heard of the failover yet (the news travels on the hello channel, every 2 s) still
      // takes the old primary for the master, and seeing it again it converted it back to one
      // (+convert-to-master) and made the new primary its replica (seen once in a full run).
      await waitFor('every sentinel names the new primary', async () => {
        const named = await Promise.all(s.map(async (port) => Number((await cli(port, 'sentinel', 'get-master-addr-by-name', master)).split('\n')[1])));
        return named.every((p) => p === to);
      }, 30_000);
      // The old primary comes back as a replica of the new one, as an operator would start it.
      // (Left to the sentinels, the conversion waits on their own timers, which a loaded CI
      // machine stretched past a minute.)
      startData(from, to);
      // Settled means: every sentinel names one primary, it says it is one, and the other node
      // replicates from it. Usually that is `to` with `from` as its replica; but on a loaded
      // machine a sentinel may also miss the new primary's answers for down-after-milliseconds
      // and fail over again, back to the restarted node (seen once in CI: `from` master, `to`
      // its replica). That is Sentinel doing its job; the roles must follow it either way, which
      // is what the test checks next.
      const settled = async (): Promise<number | undefined> => {
        const named = await Promise.all(s.map(async (port) => Number((await cli(port, 'sentinel', 'get-master-addr-by-name', master)).split('\n')[1])));
        const primary = named[0]!;
        if (!named.every((p) => p === primary) || (primary !== from && primary !== to)) return undefined;
        const other = primary === to ? from : to;
        const [p, r] = await Promise.all([cli(primary, 'info', 'replication'), cli(other, 'info', 'replication')]);
        return p.includes('role:master') && r.includes('master_link_status:up') && r.includes(`master_port:${primary}`) ? primary : undefined;
      };
      let now: number | undefined;
      await waitFor('the old primary back and the pair replicating', async () => (now = await settled()) !== undefined, 60_000).catch(async (e: Error) => {
        // Say what the nodes and the sentinels were doing, not only that it timed out.
        const state = async (port: number) => (await cli(port, 'info', 'replication').catch((err: Error) => `no answer: ${err.message}`)).replace(/\r?\n/g, ' ');
        const sentinelLogs = s.map((port) => `sentinel ${port}: ${logTail(join(dir, `sentinel-${port}.log`))}`).join('\n');
        throw new Error(`${e.message} (old primary ${from}: ${await state(from)}; new primary ${to}: ${await state(to)}); log of ${from}: ${logTail(dataLog(from, dir))}\n${sentinelLogs}`, { cause: e });
      });
      if (now !== to) process.stderr.write(`redis-forms: the sentinels failed over again, back to ${from} (${to} is its replica)\n`);
      return { from, to };
    },
    stop: () => stopAll(all(), dir),
  };
}
