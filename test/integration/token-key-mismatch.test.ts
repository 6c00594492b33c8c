// Issue #14, finding 4: a process started with another valid key than the one the stored token
// was sealed with. It refuses to start (its role starters throw, the process exits 2 naming
// both key ids), and should a token sealed with another key appear while it runs, its jobs
// retry without pausing the install's queues: the shared pause state is never touched.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/log.js';
import { mailboxActions, notify } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startWorker } from '../../src/station/worker.js';
import { pausedQueuesKey, stateKey } from '../../src/token/gate.js';
import { KEY_MISMATCH_EXIT, KeyMismatchError, keyId, loadSecretKey } from '../../src/token/key.js';
import { openTokenRuntime, startTokenRuntime } from '../../src/token/runtime.js';
import { startSeededSim, storeAdminToken, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefix = uniquePrefix('token-key-mismatch');
const rightKey = randomBytes(32).toString('base64');
const wrongKey = randomBytes(32).toString('base64');
const idOf = (b64: string) => keyId(Buffer.from(b64, 'base64'));
let jira: SeededSim;
let config: Config;

beforeAll(async () => {
  jira = await startSeededSim();
  config = { ...parseConfig({ jira: { site: jira.sim.url }, mailboxes: [{ id: 'support' }] }, { MAILROOM_SECRET_KEY: wrongKey }), prefix };
  await storeAdminToken(redis, prefix, rightKey, jira.site);
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
  await jira.close();
});

const untouched = async () => {
  expect(await redis.exists(stateKey(prefix), pausedQueuesKey(prefix))).toBe(0);
  const q = openQueue(notify, { connection: redis, prefix });
  expect(await q.isPaused()).toBe(false);
  await q.close();
};

describe('a process whose key cannot decrypt the stored token', () => {
  it('is refused at start, with both key ids', async () => {
    const started = openTokenRuntime({ connection: redis, config, logger: silentLogger });
    await expect(started).rejects.toBeInstanceOf(KeyMismatchError);
    await expect(started).rejects.toThrow(new RegExp(`key id ${idOf(wrongKey)}\\).*needs key id ${idOf(rightKey)}`));
    await untouched();
  });

  it('exits 2 (bad configuration or key, docs/exit-codes.md) and says so on stderr, as a role process', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-keymismatch-'));
    writeFileSync(join(dir, 'mailroom.yml'), ['jira:', `  site: ${jira.sim.url}`, 'mailboxes:', '  - id: support', '    deliver:', '      project: SUP', ''].join('\n'));
    const entry = "import { runRoles } from './src/roles/runtime.js';\nimport { delivererRole } from './src/roles/stations.js';\nawait runRoles('deliverer', [delivererRole()]);\n";
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', entry], {
      cwd: process.cwd(),
      env: { ...process.env, REDIS_URL, MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: wrongKey, MAILROOM_SECRET_KEY_FILE: '', MAILROOM_CONFIG: join(dir, 'mailroom.yml'), LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(KEY_MISMATCH_EXIT);
    expect(stderr).toContain(`key id ${idOf(wrongKey)}`);
    expect(stderr).toContain(`needs key id ${idOf(rightKey)}`);
    await untouched();
  });

  it('that appears while it runs makes its jobs retry, never pausing the shared queues', { timeout: 30_000 }, async () => {
    // Started when no token was stored (nothing to check), then a token sealed with another key arrives.
    const p2 = uniquePrefix('token-key-mismatch-run');
    const rt = startTokenRuntime({ connection: redis, config: { ...config, prefix: p2 }, logger: silentLogger });
    await rt.gate.ready();
    await storeAdminToken(redis, p2, rightKey, jira.site);
    const conn = testRedis({ forWorker: true });
    const q = openQueue(mailboxActions, { connection: redis, prefix: p2 });
    const seen: string[] = [];
    const worker = startWorker(mailboxActions, async () => {
      try {
        await rt.source.client();
      } catch (e) {
        seen.push((e as Error).name);
        throw e;
      }
    }, { connection: conn, prefix: p2, logger: silentLogger, onAuthError: rt.onAuthError, retry: { 'mailbox-actions': { attempts: 2, delay: '10ms', maxDelay: '10ms' } } });
    const job = await addJob(q, mailboxActions, { mailboxId: 'support', uidvalidity: '1', uid: 1, outcome: 'delivered' }, { 'mailbox-actions': { attempts: 2, delay: '10ms', maxDelay: '10ms' } });
    for (let i = 0; i < 200 && !(await job.isFailed()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await job.isFailed()).toBe(true);
    expect(seen).toEqual(['TokenKeyError', 'TokenKeyError']);
    expect(await redis.exists(stateKey(p2))).toBe(0);
    expect(await q.isPaused()).toBe(false);
    expect(loadSecretKey({ base64: wrongKey }).id).toBe(idOf(wrongKey));
    await worker.close();
    await q.close();
    await rt.close();
    conn.disconnect();
    await dropPrefix(redis, p2);
  });
});
