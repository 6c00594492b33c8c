// Every role entry (workers/*.ts) as an operator or a unit file starts it: an unknown argument
// exits 2 before anything connects, --help and --version answer and exit 0, and -c names the
// configuration (a missing file is exit 2 even when MAILROOM_CONFIG names a good one).
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');
const workers = readdirSync(join(repo, 'workers')).filter((f) => f.endsWith('.ts'));

function run(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  // Redis on a port nothing listens on: if an entry started a consumer, it would hang, not exit.
  const env = { ...process.env, REDIS_URL: 'redis://127.0.0.1:9', MAILROOM_CONFIG: join(repo, 'mailroom.example.yml'), ...extra };
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((done) => child.on('exit', (code) => done({ code, out, err })));
}

describe('worker entries', { timeout: 120_000 }, () => {
  it('has the seven roles', () => {
    expect(workers.sort()).toEqual(['all.ts', 'deliverer.ts', 'notifier.ts', 'poller.ts', 'provisioner.ts', 'resolver.ts', 'web.ts']);
  });
  it('every entry refuses an unknown argument with exit 2 and its usage', async () => {
    const results = await Promise.all(workers.map((w) => run([join('workers', w), '--bogus'])));
    results.forEach((r, i) => {
      expect(r.code, `${workers[i]}: ${r.err}`).toBe(2);
      expect(r.err).toMatch(/Unknown option '--bogus'[\s\S]*usage: node dist\/workers\//);
    });
  });
  it('--help, --version and -c answer without starting', async () => {
    const [help, version, missing] = await Promise.all([
      run(['workers/resolver.ts', '--help']),
      run(['workers/web.ts', '--version']),
      run(['workers/deliverer.ts', '-c', join(repo, 'no-such-config.yml')]),
    ]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/-c, --config <path>/);
    expect(version.code).toBe(0);
    expect(version.out).toMatch(/^mailroom web \d+\.\d+\.\d+\S* \(commit [0-9a-f]{12}, node \d+/);
    expect(missing.code).toBe(2);
    expect(missing.err + missing.out).toContain('no-such-config.yml');
  });
  it('a missing key file is exit 2, the class of a wrong key and a bad config (it was 1)', async () => {
    const r = await run(['workers/resolver.ts'], { MAILROOM_SECRET_KEY: '', MAILROOM_SECRET_KEY_FILE: join(repo, 'no-such-key-file') });
    expect(r.code, r.err + r.out).toBe(2);
    expect(r.err).toContain('cannot read the key file');
  });
  it('a web role without board credentials is exit 2 too: a unit file must not restart it forever', async () => {
    const r = await run(['workers/web.ts'], { MAILROOM_WEB_USER: '', MAILROOM_WEB_PASSWORD: '', MAILROOM_WEB_PASSWORD_FILE: '', MAILROOM_WEB_PROXY_HEADER: '' });
    expect(r.code, r.err + r.out).toBe(2);
    expect(r.err).toContain('no web credentials');
  });
});
