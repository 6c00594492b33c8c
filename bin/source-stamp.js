// The build stamp: dist/build-stamp.json says which sources a dist/ was built from (version,
// commit, and a hash of src/, workers/, bin/ and package.json). `npm run build` writes it
// (`node bin/source-stamp.js --write`); bin/mailroom.js compares it with the sources beside it
// before running dist/, so a `git pull && npm ci` without a build does not run stale code.
// An image has no sources: there the stamp is trusted as it is. Plain JavaScript: it runs
// before anything is built.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HASHED = ['src', 'workers', 'bin', 'package.json'];

function files(root, entry) {
  const full = join(root, entry);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [full];
  return readdirSync(full, { withFileTypes: true }).flatMap((d) => files(root, join(entry, d.name)));
}

/** sha256 over every hashed file's path and bytes, in a stable order; undefined without sources. */
export function sourceHash(root) {
  if (!existsSync(join(root, 'src'))) return undefined;
  const h = createHash('sha256');
  for (const file of HASHED.flatMap((e) => files(root, e)).sort()) {
    h.update(relative(root, file).split(sep).join('/')).update('\0').update(readFileSync(file)).update('\0');
  }
  return h.digest('hex');
}

export function readStamp(root) {
  try {
    return JSON.parse(readFileSync(join(root, 'dist', 'build-stamp.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

function commitOf(root) {
  if (process.env.MAILROOM_COMMIT) return process.env.MAILROOM_COMMIT.slice(0, 12);
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Whether dist/ may run: 'fresh' (stamp matches the sources), 'stale' (it does not, or there
 * is no stamp), 'image' (no sources beside it: trust the stamp), 'unbuilt' (no dist/).
 */
export function distState(root) {
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) return 'unbuilt';
  const hash = sourceHash(root);
  if (hash === undefined) return 'image';
  const stamp = readStamp(root);
  return stamp && stamp.sourceHash === hash ? 'fresh' : 'stale';
}

export function writeStamp(root) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const stamp = { version: pkg.version, commit: commitOf(root), sourceHash: sourceHash(root), builtAt: new Date().toISOString() };
  writeFileSync(join(root, 'dist', 'build-stamp.json'), JSON.stringify(stamp, null, 2) + '\n');
  return stamp;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv[2] === '--write') {
  const stamp = writeStamp(join(dirname(fileURLToPath(import.meta.url)), '..'));
  process.stdout.write(`dist/build-stamp.json: ${stamp.version} ${stamp.commit} ${stamp.sourceHash.slice(0, 12)}\n`);
}
