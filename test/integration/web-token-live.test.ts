// A token revoked while no mail flows: the web role's /readyz checks it against Jira (at most
// every few seconds) and turns unready, pausing the token's queues, without waiting for a
// worker to meet the refusal or for the hourly check.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/log.js';
import { createRoleContext, type Stoppable } from '../../src/roles/runtime.js';
import { loadSecretKey } from '../../src/token/key.js';
import { saveToken } from '../../src/token/store.js';
import { readTokenState } from '../../src/token/gate.js';
import { webRole } from '../../src/web/role.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { freePort } from '../../src/ops/own-redis.js';

const prefix = uniquePrefix('web-token-live');
const redis = testRedis();
let jira: SeededSim;
let role: Stoppable;
let closeCtx: () => Promise<void>;
let base: string;

type Report = { ready: boolean; checks: { name: string; ok: boolean; detail?: string }[] };
async function tokenCheck(): Promise<{ status: number; ok?: boolean; detail?: string }> {
  const r = await fetch(`${base}/readyz`);
  const body = (await r.json()) as Report;
  const c = body.checks.find((x) => x.name === 'token');
  return { status: r.status, ok: c?.ok, detail: c?.detail };
}

beforeAll(async () => {
  jira = await startSeededSim();
  const port = await freePort();
  const key = randomBytes(32).toString('base64');
  const config = parseConfig(
    { jira: { site: jira.sim.url }, mailboxes: [{ id: 'support' }], web: { host: '127.0.0.1', port } },
    { MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: key },
  );
  await saveToken(redis, prefix, loadSecretKey(config.secretKey), {
    token: jira.site.admin.token,
    email: jira.site.admin.email,
    accountId: jira.site.admin.accountId,
    storedAt: new Date(),
    expiresAt: new Date(Date.now() + 100 * 86_400_000),
  });
  const ctx = createRoleContext(config, silentLogger);
  closeCtx = () => ctx.closeAll();
  role = await webRole({ noAuth: true, tokenProbeEveryMs: 300 })(ctx);
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await role?.stop();
  await closeCtx?.();
  await jira?.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('/readyz and a revoked token', () => {
  it('is ready on a working token, and unready within seconds of its revocation, naming why', async () => {
    const before = await tokenCheck();
    expect(before.ok).toBe(true);
    const checksBefore = jira.sim.counters.count('getCurrentUser');

    jira.sim.state.revokeToken(jira.site.admin.token);
    let after = await tokenCheck();
    for (let i = 0; i < 40 && after.ok; i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await tokenCheck();
    }
    expect(after.status).toBe(503);
    expect(after.ok).toBe(false);
    expect(after.detail).toMatch(/paused/);
    // The probe asked Jira itself, and the refusal paused the token's queues for every process.
    expect(jira.sim.counters.count('getCurrentUser')).toBeGreaterThan(checksBefore);
    expect((await readTokenState(redis, prefix)).paused).toBe(true);
  });
});
