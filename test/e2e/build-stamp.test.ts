// bin/mailroom.js runs dist/ only when dist/build-stamp.json matches the sources beside it:
// a checkout pulled and not rebuilt runs its sources (and says dist/ is stale); an image,
// which has no sources, trusts its stamp. Played on a small tree of its own: the real bin/
// files, a dist/ and a src/ that each say which one ran.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'mr-stamp-'));
  cpSync(join(repo, 'bin'), join(root, 'bin'), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'mailroom', version: '9.9.9', type: 'module' }));
  mkdirSync(join(root, 'src', 'cli'), { recursive: true });
  mkdirSync(join(root, 'workers'));
  writeFileSync(join(root, 'src', 'cli', 'main.ts'), "process.stdout.write('ran the sources\\n');\n");
  mkdirSync(join(root, 'dist', 'src', 'cli'), { recursive: true });
  writeFileSync(join(root, 'dist', 'src', 'cli', 'main.js'), "process.stdout.write('ran dist\\n');\n");
  return root;
}

async function run(root: string, script: string, ...args: string[]) {
  const env = { ...process.env, MAILROOM_FROM_SOURCE: '', MAILROOM_COMMIT: 'abcdef0123456789' };
  const r = await promisify(execFile)(process.execPath, [join(root, 'bin', script), ...args], { cwd: root, env });
  return { out: r.stdout, err: r.stderr };
}

describe('the build stamp', { timeout: 60_000 }, () => {
  it('dist/ without a stamp is stale: the sources run, and it says so', async () => {
    const root = tree();
    expect(await run(root, 'mailroom.js')).toEqual({ out: 'ran the sources\n', err: expect.stringContaining('dist/ was not built from these sources (run `npm run build`)') });
    rmSync(root, { recursive: true });
  });

  it('a stamp written by the build runs dist/, until a source changes', async () => {
    const root = tree();
    const written = await run(root, 'source-stamp.js', '--write');
    expect(written.out).toMatch(/^dist\/build-stamp\.json: 9\.9\.9 abcdef012345 [0-9a-f]{12}\n$/);
    expect(await run(root, 'mailroom.js')).toEqual({ out: 'ran dist\n', err: '' });
    writeFileSync(join(root, 'src', 'cli', 'other.ts'), 'export {};\n');
    expect((await run(root, 'mailroom.js')).out).toBe('ran the sources\n');
    rmSync(join(root, 'src', 'cli', 'other.ts'));
    expect((await run(root, 'mailroom.js')).out).toBe('ran dist\n');
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'mailroom', version: '9.9.10', type: 'module' }));
    expect((await run(root, 'mailroom.js')).out).toBe('ran the sources\n');
    rmSync(root, { recursive: true });
  });

  it('an image (no sources beside dist/) trusts its stamp', async () => {
    const root = tree();
    rmSync(join(root, 'src'), { recursive: true });
    expect(await run(root, 'mailroom.js')).toEqual({ out: 'ran dist\n', err: '' });
    rmSync(root, { recursive: true });
  });
});
