// Issue #14, finding 6, as a user meets it: `mailroom config check` with a Redis password in
// REDIS_URL's query string prints it masked, and `mailroom … | head -1` (the reader closes the
// pipe) ends quietly instead of crashing with EPIPE.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'mr-cli-safety-'));
const configPath = join(dir, 'mailroom.yml');
writeFileSync(configPath, ['jira:', '  site: https://acme.atlassian.net', 'mailboxes:', '  - id: support', ''].join('\n'));
const PASSWORD = 'redis-Pa55-in-query';
const env = { ...process.env, MAILROOM_CONFIG: configPath, REDIS_URL: `redis://127.0.0.1:6379/0?password=${PASSWORD}&db=0`, MAILROOM_SECRET_KEY: '', MAILROOM_SECRET_KEY_FILE: '' };

describe('mailroom CLI output', () => {
  it('config check masks a Redis password given in the query string', { timeout: 60_000 }, async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'config', 'check', '--json'], { cwd: repo, env, timeout: 30_000 }, (error, stdout, stderr) =>
        done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    expect(JSON.parse(r.stdout).redisUrl).toBe('redis://127.0.0.1:6379/0?password=****&db=0');
  });

  it('a reader that closes the pipe early ends the output, not with an EPIPE crash', { timeout: 60_000 }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'config', 'check'], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    // What `| head -0` does: the read end is gone before the first line is written.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).not.toMatch(/EPIPE|Unhandled 'error' event/);
    expect(code).toBe(0);
  });
});
