// The periodic token check against the simulator: expiry warnings and errors in the logs,
// the result recorded beside the token, a refused token pausing the queues before any mail
// meets it, and a working token resuming them.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createJiraClient } from '../../src/jira/index.js';
import { createLogger } from '../../src/core/log.js';
import { openTokenQueues, readTokenState, tripGate } from '../../src/token/gate.js';
import { loadSecretKey } from '../../src/token/key.js';
import { readTokenMeta, saveToken } from '../../src/token/store.js';
import { BREAKER_THRESHOLD, openBreakers, recordRefusal } from '../../src/token/project-breaker.js';
import { breakerCheck } from '../../src/ops/project-breaker-health.js';
import { runTokenCheck, startTokenWatch, tokenDaysLeft, type TokenWatchDeps } from '../../src/token/watch.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const DAY = 86_400_000;
const key = loadSecretKey({ base64: randomBytes(32).toString('base64') });
const redis = testRedis();
let jira: SeededSim;
const prefixes: string[] = [];

beforeAll(async () => {
  jira = await startSeededSim();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  await redis.quit();
  await jira.close();
});

function setup(expiresInMs: number) {
  jira.reseed();
  const prefix = uniquePrefix('token-watch');
  prefixes.push(prefix);
  const lines: { level: number; msg: string; daysLeft?: number }[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
  const config = {
    ...parseConfig({ jira: { site: jira.sim.url }, mailboxes: [{ id: 'support', policy: { autoCreate: 'user', groups: ['support-customers'] } }], token: { checkInterval: '1h', warnBeforeExpiry: '30d' } }, {}),
    prefix,
  };
  const deps: TokenWatchDeps = {
    redis,
    config,
    secretKey: key,
    logger,
    makeClient: (c) => createJiraClient({ baseUrl: jira.sim.url, email: c.email, token: c.token, timeoutMs: 5000 }),
  };
  const store = (token = jira.site.admin.token) =>
    saveToken(redis, prefix, key, { token, email: jira.site.admin.email, accountId: jira.site.admin.accountId, storedAt: new Date(), expiresAt: new Date(Date.now() + expiresInMs) });
  return { prefix, lines, deps, store, queues: openTokenQueues(redis, prefix) };
}

describe('token watch', () => {
  it('asks each configured project and resumes a project held by its breaker once the permission it lacked is held', async () => {
    const { prefix, deps, store, queues } = setup(100 * DAY);
    await store();
    const config = { ...deps.config, mailboxes: parseConfig({ jira: { site: jira.sim.url }, mailboxes: [{ id: 'support', deliver: { project: 'SUP' } }] }, {}).mailboxes };
    const d = { ...deps, config };
    const refusal = { project: 'SUP', permission: 'CREATE_ISSUES', configKey: 'mailboxes[id=support].deliver.project', detail: '403' };
    for (let i = 0; i < BREAKER_THRESHOLD; i++) await recordRefusal(redis, prefix, refusal);
    const admin = jira.sim.state.accounts.get(jira.site.admin.accountId)!;
    admin.siteAdmin = false;
    admin.permissions = new Set(['USER_PICKER']);
    admin.projectPermissions = new Map([['SUP', new Set(['BROWSE_PROJECTS'])]]);
    const refused = await runTokenCheck(d, queues);
    expect(refused.report?.projectMissing.join('\n')).toMatch(/CREATE_ISSUES is not held in project SUP \(mailboxes\[0\]\.deliver\.project/);
    expect((await readTokenMeta(redis, prefix))?.lastCheck?.permissions).toMatchObject({ 'SUP:CREATE_ISSUES': false, 'SUP:BROWSE_PROJECTS': true });
    expect((await openBreakers(redis, prefix)).map((b) => b.project)).toEqual(['SUP']);
    // /readyz: ready (the token works), degraded, naming the project and the permission.
    expect(await breakerCheck(redis, prefix).check()).toMatchObject({ ok: true, degraded: true, detail: expect.stringMatching(/SUP lacks CREATE_ISSUES.*last token check: missing .*SUP:CREATE_ISSUES/) });
    admin.projectPermissions.get('SUP')!.add('CREATE_ISSUES');
    await runTokenCheck(d, queues);
    expect(await openBreakers(redis, prefix)).toEqual([]);
    // Resumed on the permission it lacked; the others still missing are still named.
    const after = await breakerCheck(redis, prefix).check();
    expect(after.detail).toMatch(/^projects: none held; last token check: missing .*SUP:EDIT_ISSUES/);
    expect(after.detail).not.toMatch(/CREATE_ISSUES/);
    await Promise.all(queues.map((q) => q.close()));
  });

  it('warns inside the warning window, and records the check beside the token', async () => {
    const { prefix, lines, deps, store, queues } = setup(10 * DAY + 3_600_000);
    await store();
    const outcome = await runTokenCheck(deps, queues);
    expect(outcome.expiry).toEqual({ level: 'warn', daysLeft: 10 });
    expect(outcome.report?.ok).toBe(true);
    expect(lines.some((l) => l.level === 40 && /expires in 10 days/.test(l.msg))).toBe(true);
    expect((await readTokenMeta(redis, prefix))?.lastCheck).toMatchObject({ ok: true, summary: 'ok', permissions: { USER_PICKER: true, SITE_ADMIN: true } });
    expect(await tokenDaysLeft(redis, prefix)).toBe(10);
    await Promise.all(queues.map((q) => q.close()));
  });

  it('logs an error once the expiry date has passed', async () => {
    const { lines, deps, store, queues } = setup(-DAY);
    await store();
    const outcome = await runTokenCheck(deps, queues);
    expect(outcome.expiry?.level).toBe('expired');
    expect(lines.some((l) => l.level === 50 && /has expired/.test(l.msg))).toBe(true);
    await Promise.all(queues.map((q) => q.close()));
  });

  it('pauses the token queues when Jira refuses the token, and resumes them when the same token works again', async () => {
    const { prefix, deps, store, queues } = setup(100 * DAY);
    const version = await store();
    jira.sim.state.revokeToken(jira.site.admin.token);
    const refused = await runTokenCheck(deps, queues);
    expect(refused.gate).toBe('tripped');
    expect(await readTokenState(redis, prefix)).toMatchObject({ paused: true, queue: 'token-check', tokenVersion: version });
    for (const q of queues) expect(await q.isPaused()).toBe(true);
    expect((await readTokenMeta(redis, prefix))?.lastCheck?.ok).toBe(false);

    // Same version tripped for a reason the token itself did not cause (e.g. the key was wrong
    // at the time): a passing check resumes.
    jira.sim.state.tokens.get(jira.site.admin.token)!.status = 'valid';
    const works = await runTokenCheck(deps, queues);
    expect(works.gate).toBe('resumed');
    for (const q of queues) expect(await q.isPaused()).toBe(false);
    await Promise.all(queues.map((q) => q.close()));
  });

  it('does not resume for a check of a different token version than the one that failed', async () => {
    const { prefix, deps, store, queues } = setup(100 * DAY);
    await store();
    await tripGate(redis, prefix, queues, { reason: 'a job met a 401', failedVersion: 1 });
    // A later version stored without resuming (should not happen via the CLI, which resumes):
    await redis.hset(`${prefix}:token:state`, 'tokenVersion', '99');
    const outcome = await runTokenCheck(deps, queues);
    expect(outcome.gate).toBe('unchanged');
    expect((await readTokenState(redis, prefix)).paused).toBe(true);
    await Promise.all(queues.map((q) => q.close()));
  });

  it('startTokenWatch checks at once and reports a missing token without throwing', async () => {
    const { deps, lines } = setup(100 * DAY);
    const watch = startTokenWatch(deps);
    const outcome = await watch.checkNow();
    expect(outcome.problem).toMatch(/no workaround token is stored/);
    expect(lines.some((l) => l.level === 50 && /no workaround token is stored/.test(l.msg))).toBe(true);
    await watch.stop();
  });
});
