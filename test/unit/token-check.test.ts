import { describe, expect, it } from 'vitest';
import { policySchema } from '../../src/config/schema.js';
import { AuthError, RetryableError } from '../../src/core/errors.js';
import { checkRecord, checkToken, formatReport, requirementsFor, summarize, type TokenCheckClient } from '../../src/token/check.js';
import { expiryStatus } from '../../src/token/watch.js';

const mailbox = (id: string, policy: Record<string, unknown>) => ({ id, policy: policySchema.parse(policy) });
const ME = { accountId: 'acc-1', emailAddress: 'bot@acme.example', displayName: 'Bot', active: true };

/** A stand-in Jira answering /myself and /mypermissions from a table (the check is under test, not the client). */
function jiraWith(perms: Record<string, boolean>, opts: { myself?: () => Promise<typeof ME>; unknownKeys?: string[] } = {}): TokenCheckClient & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    myself: opts.myself ?? (async () => ME),
    async myPermissions(keys) {
      asked.push(keys);
      if (keys.some((k) => opts.unknownKeys?.includes(k))) throw new Error(`Unrecognized permission keys: ${keys.join(',')}`);
      return Object.fromEntries(keys.map((k) => [k, perms[k] === true]));
    },
  };
}

describe('requirementsFor', () => {
  it('always needs Browse users and groups; nothing more when nothing is auto-created', () => {
    expect(requirementsFor([mailbox('a', {})]).map((r) => [r.permission, r.level])).toEqual([['USER_PICKER', 'required']]);
  });
  it('users into groups need Administer Jira and site administration', () => {
    const r = requirementsFor([mailbox('a', { autoCreate: 'user', groups: ['g'] })]);
    expect(r.map((x) => [x.permission, x.level])).toEqual([
      ['USER_PICKER', 'required'],
      ['ADMINISTER', 'required'],
      ['SITE_ADMIN', 'required'],
    ]);
    expect(r.find((x) => x.permission === 'SITE_ADMIN')?.why).toMatch(/mailbox "a" adds created users to groups/);
  });
  it('users without groups only advise site administration', () => {
    const r = requirementsFor([mailbox('a', { autoCreate: 'user' })]);
    expect(r.find((x) => x.permission === 'SITE_ADMIN')?.level).toBe('advised');
  });
  it('customers need Administer Jira and the service desk admin; mailboxes merge their reasons', () => {
    const r = requirementsFor([mailbox('a', { autoCreate: 'customer', serviceDeskId: '4' }), mailbox('b', { autoCreate: 'user', groups: ['g'] })]);
    expect(r.map((x) => x.permission).sort()).toEqual(['ADMINISTER', 'ADMINISTER_PROJECTS', 'SITE_ADMIN', 'USER_PICKER']);
    expect(r.find((x) => x.permission === 'ADMINISTER')?.why).toMatch(/"a" creates JSM customers.*"b" creates Jira users/);
    expect(r.find((x) => x.permission === 'ADMINISTER_PROJECTS')?.why).toMatch(/service desk 4/);
  });
});

describe('checkToken', () => {
  it('ok when everything the policies need is held; SITE_ADMIN is read from SYSTEM_ADMIN', async () => {
    const jira = jiraWith({ USER_PICKER: true, ADMINISTER: true, SYSTEM_ADMIN: true });
    const r = await checkToken(jira, [mailbox('a', { autoCreate: 'user', groups: ['g'] })]);
    expect(r.ok).toBe(true);
    expect(r.permissions).toEqual({ USER_PICKER: true, ADMINISTER: true, SITE_ADMIN: true });
    expect(jira.asked).toEqual([['USER_PICKER', 'ADMINISTER', 'SYSTEM_ADMIN']]);
    expect(summarize(r)).toBe('ok');
  });

  it('names each missing permission and how to grant it', async () => {
    const r = await checkToken(jiraWith({ USER_PICKER: true }), [mailbox('a', { autoCreate: 'user', groups: ['g'] })]);
    expect(r.ok).toBe(false);
    expect(r.missing.map((m) => m.permission)).toEqual(['ADMINISTER', 'SITE_ADMIN']);
    const text = formatReport(r).join('\n');
    expect(text).toMatch(/MISSING: Administer Jira[\s\S]*to grant:\s+Jira settings > System > Global permissions/);
    expect(text).toMatch(/MISSING: Site administration[\s\S]*site-admins/);
    expect(checkRecord(r)).toMatchObject({ ok: false, summary: expect.stringMatching(/^missing: Administer Jira/), permissions: { USER_PICKER: true, ADMINISTER: false, SITE_ADMIN: false } });
  });

  it('a refused token is an auth failure, not a missing permission', async () => {
    const r = await checkToken(jiraWith({}, { myself: () => Promise.reject(new AuthError('401 from Jira')) }), [mailbox('a', {})]);
    expect(r).toMatchObject({ ok: false, authFailed: true, missing: [] });
    expect(r.error).toMatch(/Jira refused the token.*wrong, expired or revoked/);
  });

  it('a network failure is not an auth failure', async () => {
    const r = await checkToken(jiraWith({}, { myself: () => Promise.reject(new RetryableError('ECONNREFUSED')) }), [mailbox('a', {})]);
    expect(r).toMatchObject({ ok: false, authFailed: false });
    expect(r.error).toMatch(/could not check the token: ECONNREFUSED/);
  });

  it('a deactivated account is not ok', async () => {
    const r = await checkToken(jiraWith({ USER_PICKER: true }, { myself: async () => ({ ...ME, active: false }) }), [mailbox('a', {})]);
    expect(r.ok).toBe(false);
    expect(summarize(r)).toMatch(/deactivated/);
  });

  it('asks ADMINISTER_PROJECTS in the service desk\'s project; a question Jira cannot answer is not ok', async () => {
    const policies = [mailbox('a', { autoCreate: 'customer', serviceDeskId: '1' })];
    const withDesk = (perms: Record<string, boolean>, o: { unknownKeys?: string[] } = {}) => {
      const j = jiraWith(perms, o);
      const contexts: unknown[] = [];
      return Object.assign(j, {
        contexts,
        async serviceDeskProject(id: string) {
          return { projectId: `100${id}`, projectKey: 'HD' };
        },
        async myPermissions(keys: string[], context?: { projectId?: string }) {
          contexts.push(context);
          j.asked.push(keys);
          if (keys.some((k) => o.unknownKeys?.includes(k))) throw new Error(`Unrecognized permission keys: ${keys.join(',')}`);
          return Object.fromEntries(keys.map((k) => [k, perms[k] === true]));
        },
      });
    };
    const heldJira = withDesk({ USER_PICKER: true, ADMINISTER: true, ADMINISTER_PROJECTS: true });
    const held = await checkToken(heldJira, policies);
    expect(held.ok).toBe(true);
    expect(heldJira.contexts.at(-1)).toEqual({ projectId: '1001', projectKey: 'HD' });
    const lacking = await checkToken(withDesk({ USER_PICKER: true, ADMINISTER: true }), policies);
    expect(lacking.missing.map((m) => m.permission)).toEqual(['ADMINISTER_PROJECTS']);
    const unknown = await checkToken(withDesk({ USER_PICKER: true, ADMINISTER: true }, { unknownKeys: ['ADMINISTER_PROJECTS'] }), policies);
    expect(unknown.ok).toBe(false);
    expect(unknown.missing).toEqual([]);
    expect(unknown.unchecked.join()).toMatch(/Service desk administrator.*service desk 1.*Unrecognized permission keys/);
    expect(formatReport(unknown).join('\n')).toMatch(/COULD NOT CHECK[\s\S]*result:\s+NOT OK \(not everything could be checked/);
    expect(summarize(unknown)).toMatch(/^could not check: /);
  });

  it('site administration: the site-admins group counts when SYSTEM_ADMIN is not reported', async () => {
    const policies = [mailbox('a', { autoCreate: 'user', groups: ['g'] })];
    const inGroup = Object.assign(jiraWith({ USER_PICKER: true, ADMINISTER: true }), { myGroups: async () => ['jira-admins-acme', 'site-admins'] });
    expect(await checkToken(inGroup, policies)).toMatchObject({ ok: true, permissions: { SITE_ADMIN: true } });
    const notIn = Object.assign(jiraWith({ USER_PICKER: true, ADMINISTER: true }), { myGroups: async () => ['jira-admins-acme'] });
    expect((await checkToken(notIn, policies)).missing.map((m) => m.permission)).toEqual(['SITE_ADMIN']);
    const unreadable = Object.assign(jiraWith({ USER_PICKER: true, ADMINISTER: true }), { myGroups: () => Promise.reject(new RetryableError('timeout')) });
    const r = await checkToken(unreadable, policies);
    expect(r).toMatchObject({ ok: false, missing: [] });
    expect(r.unchecked.join()).toMatch(/Site administration.*groups could not be read/);
  });
});

describe('expiryStatus', () => {
  const now = new Date('2026-11-28T00:00:00Z');
  const warn = 30 * 86_400_000;
  it('ok beyond the warning window, warn inside it, expired at and after the date', () => {
    expect(expiryStatus(new Date('2027-01-28T00:00:00Z'), now, warn)).toEqual({ level: 'ok', daysLeft: 61 });
    expect(expiryStatus(new Date('2026-12-28T00:00:00Z'), now, warn)).toEqual({ level: 'warn', daysLeft: 30 });
    expect(expiryStatus(new Date('2026-11-28T00:00:00Z'), now, warn).level).toBe('expired');
    expect(expiryStatus(new Date('2026-11-20T00:00:00Z'), now, warn)).toEqual({ level: 'expired', daysLeft: -8 });
  });
});
