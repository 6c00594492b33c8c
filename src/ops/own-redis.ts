// A redis-server of our own, on a spare loopback port with its own folder: the benchmark
// measures a quiet Redis, the chaos run kills, wipes and restarts it, and `npm run demo` uses
// one when nothing listens where it looked — all without touching a shared 127.0.0.1:6379.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface OwnRedis {
  url: string;
  port: number;
  dir: string;
  pid(): number | undefined;
  version(): Promise<string>;
  /** Stop and start again on the same port: with its data (AOF, clean shutdown) or wiped. */
  restart(opts: { keepData: boolean; hard?: boolean }): Promise<void>;
  /** Kill the server (SIGKILL when hard, else a clean SHUTDOWN) and leave it down. */
  halt(opts?: { hard?: boolean }): Promise<void>;
  resume(opts?: { keepData?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';

/** Whether a redis-server binary can be run here (on PATH, or REDIS_SERVER_BIN). */
export function redisServerInstalled(bin = REDIS_SERVER_BIN): boolean {
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore', timeout: 5000 });
  return !r.error && r.status === 0;
}

/** A port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a Redis answers PING on this loopback port within half a second. */
export async function answers(port: number, host = '127.0.0.1'): Promise<boolean> {
  const r = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

export async function startOwnRedis(opts: { persist?: boolean; bin?: string } = {}): Promise<OwnRedis> {
  const bin = opts.bin ?? REDIS_SERVER_BIN;
  const dir = await mkdtemp(join(tmpdir(), 'mailroom-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  let gen = 0;

  const launch = async (): Promise<void> => {
    gen++;
    const data = join(dir, 'data');
    await import('node:fs/promises').then((fs) => fs.mkdir(data, { recursive: true }));
    // appendonly + everysec: a clean SHUTDOWN keeps everything, a SIGKILL loses at most a second,
    // as on a production Redis with AOF. No RDB snapshots: they would fork under the benchmark.
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', data, '--save', '', '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning', '--logfile', join(dir, `redis-${gen}.log`)];
    if (opts.persist) args.push('--appendonly', 'yes', '--appendfsync', 'everysec');
    else args.push('--appendonly', 'no');
    child = spawn(bin, args, { stdio: 'ignore' });
    const c = child;
    let failed: Error | undefined;
    c.on('error', (e) => (failed = e));
    const deadline = Date.now() + 10_000;
    while (!(await answers(port))) {
      if (failed) throw new Error(`cannot run ${bin}: ${failed.message}`);
      if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode} on port ${port}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on 127.0.0.1:${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (e) {
      child?.kill('SIGKILL');
      if (attempt >= 3) throw e;
    }
  }

  const halt = async (o: { hard?: boolean } = {}) => {
    const c = child;
    if (!c || c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    // SIGTERM makes redis-server flush its AOF and exit cleanly; SIGKILL is a crash.
    c.kill(o.hard ? 'SIGKILL' : 'SIGTERM');
    await gone;
  };
  const resume = async (o: { keepData?: boolean } = {}) => {
    if (o.keepData === false) await rm(join(dir, 'data'), { recursive: true, force: true });
    await launch();
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid: () => child?.pid,
    async version() {
      const r = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
      try {
        const info = await r.info('server');
        return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
      } finally {
        r.disconnect();
      }
    },
    halt,
    resume,
    async restart(o) {
      await halt({ hard: o.hard });
      await resume({ keepData: o.keepData });
    },
    async stop() {
      await halt({ hard: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
