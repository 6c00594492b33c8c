// Usage mistakes exit 2 ("fix the input"), never 1, which scripts read as "checked, and not well"
// (for `mailroom audit`: "no trail found").
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');

function mailroom(...args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repo, timeout: 30_000 }, (error, _stdout, stderr) =>
      done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

describe('mailroom on a fresh clone', () => {
  it('`npx mailroom --version` runs this checkout\'s command (as the README says), never a registry package', async () => {
    const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
    const stdout = await new Promise<string>((done, fail) =>
      execFile('npx', ['--offline', 'mailroom', '--version'], { cwd: repo, timeout: 60_000 }, (error, out) => (error ? fail(error) : done(out))),
    );
    expect(stdout.trim()).toBe(version);
  });
});

describe('mailroom usage errors', () => {
  it('audit --limit that is not a positive whole number exits 2 and says why', async () => {
    const r = await mailroom('audit', 'ann@example.com', '--limit', '0');
    expect(r.stderr).toContain('--limit must be a positive whole number');
    expect(r.code).toBe(2);
  });

  it('respond resend with an address that is not one exits 2 and names it', async () => {
    const r = await mailroom('respond', 'resend', '--issue', 'SUP-12', '--to', 'nora-at-example', '--ack');
    expect(r.stderr).toContain('--to "nora-at-example" is not an email address');
    expect(r.code).toBe(2);
  });
});
