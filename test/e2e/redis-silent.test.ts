// A Redis that accepts TCP connections but never answers (a stopped or hung server, a port
// that is not Redis): connectTimeout no longer applies once TCP is up, so this is a case of its
// own. Every CLI command that needs Redis still exits 3 within seconds, with one line naming
// the masked Redis and why, and never the password. And `mailroom token check`, which scripts
// use to alert on a refused token (exit 1), says Redis (exit 3) when it is Redis that is away.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { freePort } from '../helpers/dovecot.js';
import { startCluster } from '../helpers/redis-forms.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'mr-redis-silent-'));
const configFile = join(dir, 'mailroom.yml');
const sockets: Socket[] = [];
let silent: Server;
let port: number;

beforeAll(async () => {
  // Takes every connection, reads whatever is sent, never writes and never closes (not even
  // on the client's FIN): what a SIGSTOPped redis-server looks like from outside.
  silent = createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  port = (silent.address() as { port: number }).port;
  writeFileSync(configFile, 'jira:\n  site: http://127.0.0.1:9\nmailboxes:\n  - id: support\n');
  writeFileSync(join(dir, 'one.eml'), 'From: a@example.com\r\nTo: support@example.com\r\nSubject: hi\r\nMessage-ID: <one@example.com>\r\n\r\nhello\r\n');
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
});

const env = (url: string) => ({
  ...process.env,
  REDIS_URL: url,
  REDIS_SENTINELS: '',
  REDIS_CLUSTER_NODES: '',
  MAILROOM_PREFIX: `{mrtest-silent-${randomBytes(3).toString('hex')}}`,
  MAILROOM_SECRET_KEY: randomBytes(32).toString('base64'),
  MAILROOM_SECRET_KEY_FILE: '',
  MAILROOM_CONFIG: configFile,
});

async function run(url: string, args: string[]): Promise<CliRun & { args: string[] }> {
  return { ...(await runCli(args, { env: env(url), timeoutMs: 30_000 })), args };
}

describe('with a Redis that never answers', () => {
  it('every command that needs Redis exits 3 with one line naming the masked Redis', { timeout: 240_000 }, async () => {
    const url = `redis://:hunter2-secret@127.0.0.1:${port}`;
    const commands = [
      ['ingest', join(dir, 'one.eml')],
      ['audit', 'ann@example.com'],
      ['audit', 'support:1700000000:42'],
      ['status'],
      ['failed', 'list'],
      ['reprocess', '--message-id', 'x@example.com'],
      ['token', 'status'],
      ['token', 'check'],
      ['mailboxes'],
    ];
    const runs = [];
    for (const args of commands) runs.push(await run(url, args));
    for (const r of runs) {
      // A hang is caught by runCli's own 30 s limit (the command is killed: no exit code 3).
      expect({ args: r.args, code: r.code, lines: r.stderr.trim().split('\n') }).toEqual({
        args: r.args,
        code: 3,
        lines: [expect.stringMatching(new RegExp(`^mailroom: cannot reach Redis at redis://\\*\\*\\*\\*@127\\.0\\.0\\.1:${port}: no answer within (2\\.5|3) s$`))],
      });
      expect(r.stdout + r.stderr).not.toContain('hunter2');
    }
  });
});

describe('with Redis refusing connections', () => {
  it('`token check` exits 3 naming Redis, not 1 (a refused token)', { timeout: 60_000 }, async () => {
    const closed = await freePort();
    const r = await run(`redis://:hunter2-secret@127.0.0.1:${closed}`, ['token', 'check']);
    expect({ code: r.code, lines: r.stderr.trim().split('\n') }).toEqual({
      code: 3,
      lines: [`mailroom: cannot reach Redis at redis://****@127.0.0.1:${closed}: connect ECONNREFUSED 127.0.0.1:${closed}`],
    });
    expect(r.stdout + r.stderr).not.toContain('hunter2');
  });
});

describe('with a Redis Cluster whose node holding the install\'s slot stops answering', () => {
  // PING may go to any node, and the other nodes still answer: the connection is up, while every
  // read of the install's keys waits on the stopped node. Each command must still exit 3 with the
  // one line, not wait for ever (before: status, audit and token status hung).
  it('every command exits 3 with one line naming the cluster', { timeout: 240_000 }, async () => {
    const cluster = await startCluster();
    const prefix = `{mrtest-silent-${randomBytes(3).toString('hex')}}`;
    const nodes = cluster.env.REDIS_CLUSTER_NODES!;
    const probe = new Redis(Number(nodes.split(',')[0]!.split(':')[1]), { lazyConnect: true });
    let stopped: number | undefined;
    try {
      await probe.connect();
      const slot = Number(await probe.cluster('KEYSLOT', prefix));
      const ranges = await probe.cluster('SLOTS');
      const owner = ranges.find(([from, to]) => from <= slot && slot <= to)![2]![1];
      stopped = Number(execFileSync('pgrep', ['-f', `redis-server .*:${owner}`]).toString().trim().split('\n')[0]);
      process.kill(stopped, 'SIGSTOP');
      const env = { ...process.env, ...cluster.env, REDIS_URL: '', REDIS_SENTINELS: '', MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: randomBytes(32).toString('base64'), MAILROOM_SECRET_KEY_FILE: '', MAILROOM_CONFIG: configFile };
      for (const args of [['status'], ['audit', 'ann@example.com'], ['token', 'status'], ['failed', 'list']]) {
        const r = await runCli(args, { env, timeoutMs: 60_000 });
        expect({ args, code: r.code, lines: r.stderr.trim().split('\n') }).toEqual({
          args,
          code: 3,
          lines: [expect.stringMatching(/^mailroom: cannot reach Redis at cluster via 127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+: /)],
        });
      }
    } finally {
      if (stopped) process.kill(stopped, 'SIGCONT');
      probe.disconnect();
      await cluster.stop();
    }
  });
});
