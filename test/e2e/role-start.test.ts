// Roles as an operator starts them (issue 19, points 5–7): each role asks only for its own
// secrets, PORT and LOG_LEVEL are honoured, a configuration a role cannot use is one JSON log
// line and exit 2, and a role without its config section (the notifier without smtp) idles
// with one clear line instead of exiting, the same under the Procfile and `mailroom start`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { freePort } from '../../src/ops/own-redis.js';

const repo = join(import.meta.dirname, '..', '..');
const prefix = uniquePrefix('rolestart');
const dir = mkdtempSync(join(tmpdir(), 'mr-rolestart-'));
const configFile = join(dir, 'mailroom.yml');
writeFileSync(
  configFile,
  [
    'jira: { site: http://127.0.0.1:8990 }',
    `store: { kind: fs, dir: ${JSON.stringify(join(dir, 'mail'))} }`,
    'mailboxes:',
    '  - id: support',
    '    imap: { host: 127.0.0.1, port: 9, tls: false, user: support, passwordEnv: MR_ROLESTART_IMAP_PASSWORD }',
    'web: { host: 127.0.0.1, port: 1 }',
    'log: { level: info }',
    '',
  ].join('\n'),
);

// The environment of every child: no IMAP password, never a pretty log unless asked.
const baseEnv: NodeJS.ProcessEnv = { ...process.env, REDIS_URL, MAILROOM_PREFIX: prefix, MAILROOM_CONFIG: configFile };
delete baseEnv.MR_ROLESTART_IMAP_PASSWORD;
delete baseEnv.LOG_LEVEL;
delete baseEnv.MAILROOM_LOG_LEVEL;
delete baseEnv.PORT;

interface Run {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  waitForLine(pred: (line: string) => boolean): Promise<string>;
}

const running: Run[] = [];
afterAll(() => {
  for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: repo, env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { pred: (l: string) => boolean; done: (l: string) => void }[] = [];
  let buf = '';
  const onData = (chunk: Buffer) => {
    buf += chunk.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (!w.pred(line)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.done(line);
      }
    }
  };
  child.stderr!.on('data', onData);
  child.stdout!.on('data', onData);
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const run: Run = {
    child,
    lines,
    exited,
    waitForLine: (pred) =>
      new Promise((done, fail) => {
        const seen = lines.find(pred);
        if (seen !== undefined) return done(seen);
        waiters.push({ pred, done });
        void exited.then(() => setTimeout(() => fail(new Error(`exited before the line came:\n${lines.join('\n')}`)), 100));
      }),
  };
  running.push(run);
  return run;
}

async function untilHealthy(url: string, run: Run): Promise<Response> {
  for (;;) {
    if (run.child.exitCode !== null) throw new Error(`the role exited:\n${run.lines.join('\n')}`);
    const res = await fetch(url).catch(() => undefined);
    if (res) return res;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('role start-up', () => {
  it('the web role starts without the IMAP password, on PORT, at LOG_LEVEL', async () => {
    const port = await freePort();
    const web = start(['workers/web.ts'], {
      PORT: String(port),
      LOG_LEVEL: 'warn',
      MAILROOM_WEB_USER: 'ops',
      MAILROOM_WEB_PASSWORD: 'a-long-enough-web-password',
    });
    const res = await untilHealthy(`http://127.0.0.1:${port}/healthz`, web);
    expect(res.status).toBe(200);
    web.child.kill('SIGTERM');
    expect(await web.exited).toBe(0);
    // LOG_LEVEL=warn: the info lines (started, listening, stopped) were not written.
    expect(web.lines.filter((l) => l.includes('"level":30'))).toEqual([]);
    expect(web.lines.join('\n')).not.toContain('MR_ROLESTART_IMAP_PASSWORD');
  });

  it('status and config check run without the IMAP password (config check notes who needs it)', async () => {
    const status = start(['src/cli/main.ts', 'status']);
    expect(await status.exited).not.toBe(2);
    expect(status.lines.join('\n')).not.toContain('MR_ROLESTART_IMAP_PASSWORD');
    const check = start(['src/cli/main.ts', 'config', 'check']);
    expect(await check.exited).toBe(0);
    expect(check.lines).toContain(
      'note: mailboxes[0].imap.passwordEnv: environment variable MR_ROLESTART_IMAP_PASSWORD is not set: export the IMAP password of support in it (the poller role will not start without it)',
    );
  });

  it('the poller refuses without its IMAP password: one JSON line naming the key and the variable, exit 2', async () => {
    const poller = start(['workers/poller.ts']);
    expect(await poller.exited).toBe(2);
    expect(poller.lines.filter(Boolean)).toHaveLength(1);
    const line = JSON.parse(poller.lines[0]!) as { level: number; problems: { path: string; message: string }[]; msg: string };
    expect(line.level).toBe(60);
    expect(line.problems).toEqual([{ path: 'mailboxes[0].imap.passwordEnv', message: expect.stringContaining('MR_ROLESTART_IMAP_PASSWORD') }]);
    expect(line.msg).toContain('invalid configuration');
  });

  it('a configuration that does not parse is one JSON line too, and human text with --pretty', async () => {
    const bad = start(['workers/resolver.ts'], { MAILROOM_LOG_LEVEL: 'loud' });
    expect(await bad.exited).toBe(2);
    expect(bad.lines.filter(Boolean)).toHaveLength(1);
    expect(JSON.parse(bad.lines[0]!)).toMatchObject({ level: 60, problems: [{ path: 'MAILROOM_LOG_LEVEL' }] });

    const pretty = start(['workers/resolver.ts', '--pretty'], { MAILROOM_LOG_LEVEL: 'loud' });
    expect(await pretty.exited).toBe(2);
    expect(pretty.lines[0]).toMatch(/FATAL.*invalid configuration, not starting: MAILROOM_LOG_LEVEL/);
    expect(() => JSON.parse(pretty.lines[0]!)).toThrow();
  });

  for (const [how, args] of [
    ['as a Procfile process', ['workers/notifier.ts']],
    ['under mailroom start', ['src/cli/main.ts', 'start', '--role', 'notifier']],
  ] as const) {
    it(`the notifier without an smtp section idles with one clear line ${how}, and stops on SIGTERM`, async () => {
      const notifier = start([...args]);
      const idle = await notifier.waitForLine((l) => l.includes('notifier idle'));
      expect(JSON.parse(idle)).toMatchObject({ level: 40, role: 'notifier', msg: expect.stringContaining('no smtp section') });
      await notifier.waitForLine((l) => l.includes('"msg":"started"'));
      expect(notifier.child.exitCode).toBeNull();
      notifier.child.kill('SIGTERM');
      expect(await notifier.exited).toBe(0);
      expect(notifier.lines.filter((l) => l.includes('notifier idle'))).toHaveLength(1);
    });
  }
});
