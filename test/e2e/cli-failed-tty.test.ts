// The bulk progress bar appears on a terminal and nowhere else. `script` (util-linux) gives
// the CLI a pseudo-terminal; the same command piped stays quiet.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Queue } from 'bullmq';
import { identityProvision } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startWorker } from '../../src/station/worker.js';
import { PermanentError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { notice } from '../helpers/corpus.js';
import { dropPrefix, REDIS_ENV, testRedis, uniquePrefix } from '../helpers/redis.js';

const SCRIPT = '/usr/bin/script';
const haveScript = existsSync(SCRIPT);
if (!haveScript) notice(`${SCRIPT} (util-linux) is absent: the progress-bar-on-a-terminal test is skipped`);

const ROOT = resolve(import.meta.dirname, '../..');

describe.skipIf(!haveScript)('bulk progress on a terminal', { timeout: 240_000 }, () => {
  const prefix = uniquePrefix('clitty');
  const redis = testRedis({ forWorker: true });
  let dir: string;
  let configFile: string;
  let queue: Queue;

  const run = (file: string, args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(file, args, { cwd: ROOT, env: { ...process.env, MAILROOM_PREFIX: prefix, ...REDIS_ENV }, timeout: 150_000 }, (e, stdout, stderr) =>
        done({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mailroom-cli-tty-'));
    configFile = join(dir, 'mailroom.yml');
    writeFileSync(configFile, 'jira:\n  site: http://127.0.0.1:9\nmailboxes:\n  - id: support\n');
    queue = openQueue(identityProvision, { connection: redis, prefix });
    const worker = startWorker(identityProvision, async () => Promise.reject(new PermanentError('refused')), { connection: redis, prefix, logger: silentLogger });
    for (let i = 0; i < 6; i++) {
      await addJob(queue, identityProvision, { site: 'acme.atlassian.net', email: `p${i}@example.com`, mode: 'user', mailboxId: 'support' });
    }
    const end = Date.now() + 60_000;
    while (((await queue.getJobCounts('failed')).failed ?? 0) < 6) {
      if (Date.now() > end) throw new Error('jobs did not fail');
      await new Promise((r) => setTimeout(r, 100));
    }
    await worker.close();
  });

  afterAll(async () => {
    await queue.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('draws a bar on a terminal; piped output has none', async () => {
    const cmd = `node --import tsx src/cli/main.ts --config '${configFile}' failed remove --all --reason refused --queue identity-provision`;
    // Piped: a real bulk run, and no bar.
    const piped = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', configFile, 'failed', 'retry', '--all', '--sender', 'p0@example.com']);
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain('retried 1');
    expect(piped.stdout + piped.stderr).not.toMatch(/\[[#-]+\]/);
    const tty = await run(SCRIPT, ['-qec', cmd, '/dev/null']);
    expect(tty.code).toBe(0);
    expect(tty.stdout).toMatch(/remove \[#+\] 5\/5/);
    expect(tty.stdout).toContain('removed 5');
    expect((await queue.getJobCounts('failed')).failed).toBe(0);
  });
});
