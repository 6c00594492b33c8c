// Issue 23, point 5: `token set` / `token rotate` run with another key than the one the stored
// token was sealed with would store a token no running role can read (every job then fails on
// "encrypted with another key") while saying ok. It is refused, naming both key ids and what
// to do, unless `--new-key` says the key change is deliberate.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyId, loadSecretKey } from '../../src/token/key.js';
import { OtherKeyError, refuseOtherKey } from '../../src/token/key-guard.js';
import { readTokenCredentials, readTokenMeta } from '../../src/token/store.js';
import { startSeededSim, storeAdminToken, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, REDIS_ENV, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefix = uniquePrefix('token-new-key');
const oldKey = randomBytes(32).toString('base64');
const newKey = randomBytes(32).toString('base64');
const idOf = (b64: string) => keyId(Buffer.from(b64, 'base64'));
let jira: SeededSim;
let configFile: string;

beforeAll(async () => {
  jira = await startSeededSim();
  await storeAdminToken(redis, prefix, oldKey, jira.site);
  const dir = mkdtempSync(join(tmpdir(), 'mr-newkey-'));
  configFile = join(dir, 'mailroom.yml');
  writeFileSync(configFile, ['jira:', `  site: ${jira.sim.url}`, '  timeout: 5s', 'mailboxes:', '  - id: support', ''].join('\n'));
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
  await jira.close();
});

function tokenCli(args: string[], key: string, stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', configFile, 'token', ...args], {
      cwd: process.cwd(),
      env: { ...process.env, ...REDIS_ENV, MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: key, MAILROOM_SECRET_KEY_FILE: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('token set / rotate with another key than the stored token\'s', () => {
  it('the guard refuses another key id unless told the change is deliberate', async () => {
    const meta = await readTokenMeta(redis, prefix);
    expect(() => refuseOtherKey(meta, loadSecretKey({ base64: oldKey }), false)).not.toThrow();
    expect(() => refuseOtherKey(meta, loadSecretKey({ base64: newKey }), false)).toThrow(OtherKeyError);
    expect(() => refuseOtherKey(meta, loadSecretKey({ base64: newKey }), true)).not.toThrow();
    expect(() => refuseOtherKey(undefined, loadSecretKey({ base64: newKey }), false)).not.toThrow();
  });

  it('rotate with the wrong key exits 2 naming both key ids and --new-key, and leaves the stored token readable; --new-key stores it', { timeout: 120_000 }, async () => {
    const refused = await tokenCli(['rotate'], newKey, jira.site.admin.token);
    expect(refused.code).toBe(2);
    expect(refused.stdout).not.toMatch(/rotated/);
    expect(refused.stderr).toMatch(new RegExp(`sealed with key id ${idOf(oldKey)}, and this command has key id ${idOf(newKey)}`));
    expect(refused.stderr).toMatch(/MAILROOM_SECRET_KEY .*--new-key/);
    // Still sealed with the old key, which the running roles hold.
    await expect(readTokenCredentials(redis, prefix, loadSecretKey({ base64: oldKey }))).resolves.toMatchObject({ token: jira.site.admin.token });

    const changed = await tokenCli(['rotate', '--new-key'], newKey, jira.site.admin.token);
    expect(changed.stderr).toBe('');
    expect(changed.code).toBe(0);
    expect((await readTokenMeta(redis, prefix))?.keyId).toBe(idOf(newKey));
  });
});
