// Runs once before the suite: says plainly what the integration tests need and what is absent,
// and gives the run a temp folder of its own that is removed when the run ends.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedis, describeTarget, parseRedisTarget } from '../../src/core/redis.js';
import { corpusDir } from './corpus.js';

export default async function setup(): Promise<() => void> {
  const { target, problems } = parseRedisTarget(process.env);
  if (!target) throw new Error(`the tests' Redis is misconfigured: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  const r = createRedis(target, { name: 'mailroom-test-setup', giveUpAfterMs: 3000 });
  r.on('error', () => undefined);
  try {
    await r.ping();
  } catch (e) {
    throw new Error(`Redis is not reachable at ${describeTarget(target)} (${(e as Error).message}); start it (see .ci/run) or set REDIS_URL`, { cause: e });
  } finally {
    r.disconnect();
  }
  if (!corpusDir()) {
    process.stderr.write(
      '\nNOTICE: the mail corpora (../shared/corpora or MAILROOM_CORPUS_DIR) are absent: corpus tests are skipped.\n\n',
    );
  }
  // Every temp folder a test, a role process or a server it starts makes (mkdtemp(tmpdir()))
  // goes under this one: a test that times out or is killed before its cleanup leaves nothing
  // behind on the machine (two full runs left ~40 folders, 85 MB, in the shared temp dir).
  const before = process.env.TMPDIR;
  const root = mkdtempSync(join(tmpdir(), 'mailroom-tests-'));
  // Open like /tmp itself: Dovecot's unprivileged processes must reach the folders made in it.
  chmodSync(root, 0o1777);
  process.env.TMPDIR = root;
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    rmSync(root, { recursive: true, force: true });
  };
}
