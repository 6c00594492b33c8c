// `mailroom token ...` as an operator runs it: a subprocess, the token on stdin, a real Redis
// and the Jira simulator over HTTP.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_PERMISSIONS } from '../../src/jira-sim/index.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, REDIS_ENV, testRedis, uniquePrefix } from '../helpers/redis.js';
import { assertNoSecretUnder, secretForms } from '../integration/token-scan.js';

let jira: SeededSim;
const redis = testRedis();
const prefix = uniquePrefix('token-cli');
const secretKey = randomBytes(32).toString('base64');
let configFile: string;
const seen: string[] = [];

beforeAll(async () => {
  jira = await startSeededSim();
  const dir = mkdtempSync(join(tmpdir(), 'mr-token-cli-'));
  configFile = join(dir, 'mailroom.yml');
  writeFileSync(
    configFile,
    [
      'jira:',
      `  site: ${jira.sim.url}`,
      '  timeout: 5s',
      'mailboxes:',
      '  - id: support',
      '    policy:',
      '      autoCreate: user',
      '      groups: [support-customers]',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  await redis.quit();
  await jira.close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `mailroom token <args>`. */
function mailroom(args: string[], stdin = '', env: Record<string, string> = {}): Promise<Run> {
  return mailroomCli(['token', ...args], stdin, env);
}

function mailroomCli(args: string[], stdin = '', env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', configFile, ...args], {
      cwd: process.cwd(),
      env: { ...process.env, ...REDIS_ENV, MAILROOM_PREFIX: prefix, MAILROOM_SECRET_KEY: secretKey, MAILROOM_SECRET_KEY_FILE: '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      seen.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

const admin = () => jira.site.admin;

describe('mailroom token (CLI, subprocess)', () => {
  // Each subprocess loads the CLI through tsx (seconds each on a busy 2-core machine); the
  // finer input rules are table-tested in test/unit/token-input.test.ts.
  it('set: refuses bad input with a message saying what to do, storing nothing', { timeout: 400_000 }, async () => {
    const email = admin().email;
    const cases: [string, string[], string, Record<string, string>, number, RegExp][] = [
      ['empty', ['set', '--email', email], '', {}, 2, /no token on standard input/],
      ['two lines', ['set', '--email', email], `${admin().token}\nmore\n`, {}, 2, /line break/],
      ['short key', ['set', '--email', email], admin().token, { MAILROOM_SECRET_KEY: randomBytes(16).toString('base64') }, 2, /exactly 32 bytes.*openssl rand -base64 32/],
      ['unknown token', ['set', '--email', email], 'ATATT3xNOTATOKEN0000', {}, 1, /Jira refused the token/],
      // Jira checks email and token together: another account's email is refused like a bad token.
      ['wrong email', ['set', '--email', 'alice@acme.example'], admin().token, {}, 1, /Jira refused the token.*check that alice@acme\.example is the email of the account/],
    ];
    for (const [name, args, stdin, env, code, msg] of cases) {
      const r = await mailroom(args, stdin, env);
      expect(r.stderr, name).toMatch(msg);
      expect(r.code, `${name}: ${r.stderr}`).toBe(code);
    }
    const status = await mailroom(['status', '--json']);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ stored: false });
  });

  it('set, status, check, expiry mid-run, rotate, clear', { timeout: 400_000 }, async () => {
    const first = admin().token;
    const set = await mailroom(['set', '--email', admin().email.toUpperCase(), '--expires', '2027-06-30'], `${first}\n`);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/stored: token \*\*\*\*.{4} of Mailroom \(workaround user\) <mailroom-bot@acme\.example>, expires 2027-06-30/);
    expect(set.stdout).toMatch(/yes\s+Site administration/);
    expect(set.stdout).toMatch(/result:\s+ok/);

    const status = await mailroom(['status', '--json']);
    expect(status.code).toBe(0);
    const v = JSON.parse(status.stdout);
    expect(v).toMatchObject({
      stored: true,
      readable: true,
      token: `****${first.slice(-4)}`,
      account: { email: 'mailroom-bot@acme.example', accountId: admin().accountId },
      expiresAt: '2027-06-30T00:00:00.000Z',
      version: 1,
      gate: { paused: false },
      lastCheck: { ok: true, permissions: { USER_PICKER: true, ADMINISTER: true, SITE_ADMIN: true } },
    });
    expect(typeof v.daysLeft).toBe('number');

    expect((await mailroom(['check'])).code).toBe(0);

    // Read with another key: the status says so plainly.
    const other = await mailroom(['status'], '', { MAILROOM_SECRET_KEY: randomBytes(32).toString('base64') });
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(/the stored token was encrypted with another key/);
    // The online config check with that key: a configuration problem (exit 2), said in one line.
    const online = await mailroomCli(['config', 'check', '--online'], '', { MAILROOM_SECRET_KEY: randomBytes(32).toString('base64') });
    expect(online.code).toBe(2);
    expect(online.stdout + online.stderr).toMatch(/cannot check online: the stored token was encrypted with another key/);

    // The token expires in Jira: the check fails, pauses the token queues, and status says why.
    jira.sim.state.expireToken(first);
    const check = await mailroom(['check']);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/paused the token queues/);
    const paused = await mailroom(['status']);
    expect(paused.code).toBe(1);
    expect(paused.stdout).toMatch(/queues:\s+PAUSED since/);
    expect(paused.stdout).toMatch(/because:.*periodic check/);

    // Rotate to a good token: stored atomically, queues resumed.
    const second = jira.sim.state.addToken({ accountId: admin().accountId });
    const rot = await mailroom(['rotate'], second);
    expect(rot.code, rot.stderr).toBe(0);
    expect(rot.stdout).toMatch(/rotated: token \*\*\*\*.{4}.*version 2/);
    expect(rot.stdout).toMatch(/resumed the queues paused for the token: .*identity-provision/);
    const after = JSON.parse((await mailroom(['status', '--json'])).stdout);
    expect(after).toMatchObject({ version: 2, gate: { paused: false }, token: `****${second.slice(-4)}` });

    await assertNoSecretUnder(redis, prefix, [first, second], admin().email);
    const output = seen.join('\n');
    for (const f of secretForms([first, second], admin().email)) expect(output.includes(f)).toBe(false);

    const clear = await mailroom(['clear']);
    expect(clear.stdout).toMatch(/cleared/);
    expect(JSON.parse((await mailroom(['status', '--json'])).stdout)).toMatchObject({ stored: false });
  });

  it('set: a token that cannot do what the policy needs is reported, naming the permission and how to grant it', { timeout: 200_000 }, async () => {
    const weak = jira.sim.state.addAccount({ email: 'weak-bot@acme.example', displayName: 'Weak Bot', permissions: ['USER_PICKER', 'ADMINISTER', ...PROJECT_PERMISSIONS] });
    const token = jira.sim.state.addToken({ accountId: weak.accountId });
    const r = await mailroom(['set', '--email', 'weak-bot@acme.example'], token);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/MISSING: Site administration/);
    expect(r.stdout).toMatch(/needed for: mailbox "support" adds created users to groups/);
    expect(r.stdout).toMatch(/to grant: .*site-admins/);
    expect(r.stderr).toMatch(/stored, but it lacks/);
    expect((await mailroom(['check'])).code).toBe(1);
  });
});
