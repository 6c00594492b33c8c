// Which code is running: the version (package.json), the commit and the Node version. A built
// tree carries dist/build-stamp.json (written by `npm run build`, see bin/source-stamp.js); a
// source checkout asks git. Shown in every role's start line, `mailroom status`, `--version`
// and `mailroom_build_info`.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  /** Short commit id, "unknown" when neither a stamp nor git can tell. */
  commit: string;
  node: string;
  /** Where the commit came from: the build stamp, git, or nowhere. */
  from: 'stamp' | 'git' | 'unknown';
}

/** The checkout or image root: the nearest folder up with Mailroom's package.json. */
export function mailroomRoot(from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'mailroom') return dir;
      } catch {
        // an unreadable package.json up the tree is not ours
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function readVersion(root: string | undefined): string {
  if (!root) return 'unknown';
  try {
    return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function stampCommit(root: string): string | undefined {
  try {
    const stamp = JSON.parse(readFileSync(join(root, 'dist', 'build-stamp.json'), 'utf8')) as { commit?: unknown };
    return typeof stamp.commit === 'string' && stamp.commit ? stamp.commit : undefined;
  } catch {
    return undefined;
  }
}

function gitCommit(root: string): string | undefined {
  try {
    // Bounded: a start line must not wait on a hung git.
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}

let cached: BuildInfo | undefined;

/** This process's build, worked out once. Code running from dist/ reads the stamp; sources ask git. */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  const root = mailroomRoot(here);
  const fromDist = root !== undefined && here.startsWith(join(root, 'dist'));
  const stamped = root && fromDist ? stampCommit(root) : undefined;
  const git = stamped || !root ? undefined : gitCommit(root);
  cached = {
    version: readVersion(root),
    commit: stamped ?? git ?? 'unknown',
    node: process.versions.node,
    from: stamped ? 'stamp' : git ? 'git' : 'unknown',
  };
  return cached;
}

/** "0.1.0 (commit 1a2b3c4d5e6f, node 24.1.0)": for --version and start lines. */
export function describeBuild(b: BuildInfo = buildInfo()): string {
  return `${b.version} (commit ${b.commit}, node ${b.node})`;
}
