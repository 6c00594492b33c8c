// Secrets as files, as an operator hands them to a role process (issue 24, point 7): the web
// role signs people in with the password MAILROOM_WEB_PASSWORD_FILE names (as compose's
// /run/secrets/web_password), and never logs it; a role whose secret file cannot be read, or
// that is given both forms, refuses to start with one JSON line naming the variable (exit 2).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { freePort } from '../../src/ops/own-redis.js';

const repo = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'mr-secret-files-'));
const configFile = join(dir, 'mailroom.yml');
writeFileSync(
  configFile,
  [
    'jira: { site: http://127.0.0.1:8990 }',
    `store: { kind: fs, dir: ${JSON.stringify(join(dir, 'mail'))} }`,
    'mailboxes:',
    '  - id: support',
    '    imap: { host: 127.0.0.1, port: 9, tls: false, user: support, passwordEnv: MR_SECRETFILES_IMAP_PASSWORD }',
    'web: { host: 127.0.0.1, port: 1 }',
    '',
  ].join('\n'),
);
const BOARD_PASSWORD = 'board-password-from-a-file';
const passwordFile = join(dir, 'web_password');
writeFileSync(passwordFile, `${BOARD_PASSWORD}\n`, { mode: 0o600 });

const baseEnv: NodeJS.ProcessEnv = { ...process.env, REDIS_URL, MAILROOM_PREFIX: uniquePrefix('secretfiles'), MAILROOM_CONFIG: configFile, LOG_LEVEL: 'info' };
for (const k of ['MR_SECRETFILES_IMAP_PASSWORD', 'MAILROOM_LOG_LEVEL', 'PORT', 'MAILROOM_WEB_PASSWORD', 'MAILROOM_WEB_USER']) delete baseEnv[k];

interface Run {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}
const running: Run[] = [];
afterAll(() => {
  for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function start(entry: string, env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, '--no-pretty'], { cwd: repo, env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const run = { child, out: () => text, exited: new Promise<number | null>((done) => child.on('exit', (code) => done(code))) };
  running.push(run);
  return run;
}

async function answer(url: string, run: Run, auth?: string): Promise<Response> {
  for (;;) {
    if (run.child.exitCode !== null) throw new Error(`the role exited:\n${run.out()}`);
    const res = await fetch(url, { redirect: 'manual', headers: auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {} }).catch(() => undefined);
    if (res) return res;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('secrets from X_FILE variables, in role processes', () => {
  it('the web role signs in with the password its _FILE names (one trailing newline trimmed), and never logs it', async () => {
    const port = await freePort();
    const web = start('workers/web.ts', { PORT: String(port), MAILROOM_WEB_USER: 'ops', MAILROOM_WEB_PASSWORD_FILE: passwordFile });
    const url = `http://127.0.0.1:${port}/board`;
    expect((await answer(url, web)).status).toBe(401);
    expect((await answer(url, web, `ops:${BOARD_PASSWORD}\n`)).status).toBe(401);
    expect((await answer(url, web, 'ops:wrong')).status).toBe(401);
    expect((await answer(url, web, `ops:${BOARD_PASSWORD}`)).status).toBeLessThan(400);
    web.child.kill('SIGTERM');
    expect(await web.exited).toBe(0);
    expect(web.out()).not.toContain(BOARD_PASSWORD);
  });

  it('a role whose secret file cannot be read refuses to start: one JSON line naming the variable, exit 2', async () => {
    const poller = start('workers/poller.ts', { MR_SECRETFILES_IMAP_PASSWORD_FILE: join(dir, 'absent') });
    expect(await poller.exited).toBe(2);
    const lines = poller.out().trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { level: number; problems: { path: string; message: string }[] };
    expect(line.level).toBe(60);
    expect(line.problems).toEqual([{ path: 'MR_SECRETFILES_IMAP_PASSWORD_FILE', message: expect.stringMatching(/cannot read .*absent \(MR_SECRETFILES_IMAP_PASSWORD_FILE\): it does not exist/) }]);
  });

  it('both forms of one secret: refused, naming both, without printing either value', async () => {
    const poller = start('workers/poller.ts', { MR_SECRETFILES_IMAP_PASSWORD: 'imap-password-in-env', MR_SECRETFILES_IMAP_PASSWORD_FILE: passwordFile });
    expect(await poller.exited).toBe(2);
    expect(poller.out()).toContain('both MR_SECRETFILES_IMAP_PASSWORD and MR_SECRETFILES_IMAP_PASSWORD_FILE are set');
    expect(poller.out()).not.toContain('imap-password-in-env');
    expect(poller.out()).not.toContain(BOARD_PASSWORD);
  });
});
