// The wiring a worker process uses: the key checked at start, a client on the current token
// (a rotation is picked up by the next call), and the health /readyz and metrics read.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/log.js';
import { tripGate } from '../../src/token/gate.js';
import { loadSecretKey } from '../../src/token/key.js';
import { readTokenHealth, startTokenRuntime } from '../../src/token/runtime.js';
import { saveToken } from '../../src/token/store.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefix = uniquePrefix('token-runtime');
const keyB64 = randomBytes(32).toString('base64');
let jira: SeededSim;
let config: Config;

beforeAll(async () => {
  jira = await startSeededSim();
  config = { ...parseConfig({ jira: { site: jira.sim.url }, mailboxes: [{ id: 'support' }] }, { MAILROOM_SECRET_KEY: keyB64 }), prefix };
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  await redis.quit();
  await jira.close();
});

describe('token runtime', () => {
  it('refuses to start without a usable key', () => {
    expect(() => startTokenRuntime({ connection: redis, config: { ...config, secretKey: {} }, logger: silentLogger })).toThrow(/openssl rand -base64 32/);
  });

  it('hands out a client on the current token and follows a rotation; health reflects the token and the gate', async () => {
    expect(await readTokenHealth(redis, prefix)).toMatchObject({ ok: false, stored: false, reason: 'no workaround token is stored' });
    const rt = startTokenRuntime({ connection: redis, config, logger: silentLogger });
    await rt.gate.ready();
    const key = loadSecretKey({ base64: keyB64 });
    const admin = jira.site.admin;
    const save = (token: string) =>
      saveToken(redis, prefix, key, { token, email: admin.email, accountId: admin.accountId, storedAt: new Date(), expiresAt: new Date(Date.now() + 40 * 86_400_000 + 60_000) });
    await save(admin.token);
    expect((await (await rt.source.client()).myself()).accountId).toBe(admin.accountId);
    expect(await readTokenHealth(redis, prefix)).toMatchObject({ ok: true, stored: true, paused: false, daysLeft: 40 });

    const next = jira.sim.state.addToken({ accountId: admin.accountId });
    await save(next);
    jira.sim.state.revokeToken(admin.token);
    expect((await (await rt.source.client()).myself()).accountId).toBe(admin.accountId);
    expect((await rt.source.credentials()).version).toBe(2);

    await tripGate(redis, prefix, [], { reason: 'Jira refused the workaround token on findUsers' });
    const h = await readTokenHealth(redis, prefix);
    expect(h).toMatchObject({ ok: false, paused: true, reason: 'Jira refused the workaround token on findUsers' });
    await expect(rt.source.client()).rejects.toThrow(/paused after an auth failure/);
    await rt.close();
  });
});
