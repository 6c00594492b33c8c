// `mailroom jira-sim` as a person or script starts it: a seeded site another process can use.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

describe('mailroom jira-sim', () => {
  it('starts a seeded simulator, serves Jira and /__sim, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['bin/mailroom.js', 'jira-sim', '--port', '0', '--seed-demo', '--json'], {
      env: { ...process.env, MAILROOM_FROM_SOURCE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stdout = '';
      const info = await new Promise<{ url: string; admin: { email: string; token: string } }>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
          try {
            resolve(JSON.parse(stdout));
          } catch {
            /* not complete yet */
          }
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${stdout}`)));
      });
      expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const auth = 'Basic ' + Buffer.from(`${info.admin.email}:${info.admin.token}`).toString('base64');
      const me = await fetch(`${info.url}/rest/api/3/myself`, { headers: { authorization: auth } });
      expect(await me.json()).toMatchObject({ emailAddress: info.admin.email });
      const counters = (await (await fetch(`${info.url}/__sim/counters`)).json()) as { requests: Record<string, number> };
      expect(counters.requests['getCurrentUser 200']).toBe(1);
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
