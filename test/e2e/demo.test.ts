// `npm run demo` is the README's main-job command: run it as a person would (with --once so it
// exits after its report) and check the story it tells is the one the pipeline should produce.
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { answers, freePort } from '../../src/ops/own-redis.js';
import { uniquePrefix } from '../helpers/redis.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const prefix = uniquePrefix('demo');

/** Whether anything accepts a TCP connection on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('npm run demo', () => {
  // Run where nothing listens (a spare loopback port stands in for a laptop's empty 6379), so
  // the demo must bring its own redis-server, and take it away again when it is done.
  it('with no Redis running, starts a private one and feeds the sample mails through the whole pipeline', async () => {
    const port = await freePort();
    const { stdout } = await run('node', ['--import', 'tsx', 'src/demo/main.ts', '--once'], {
      cwd: repo,
      env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${port}`, MAILROOM_PREFIX: prefix, MAILROOM_LOG_LEVEL: 'error' },
      timeout: 150_000,
    });
    const own = /started a private redis-server at redis:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
    expect(own, stdout.slice(0, 400)).not.toBeNull();
    expect(await answers(Number(own![1]))).toBe(false);
    const row = (file: string) => stdout.split('\n').find((l) => l.startsWith(file)) ?? '';
    // New people get accounts, in the configured group; the known sender is only looked up.
    expect(stdout).toContain('Accounts created in Jira (3):');
    for (const who of ['ana.souza@customer-one.test', 'carol.new@customer-two.test', 'juergen.mueller@customer-two.test']) {
      expect(stdout).toMatch(new RegExp(`^  ${who.replace(/\./g, '\\.')} .*groups: support-customers$`, 'm'));
    }
    expect(row('02-known-user-vpn.eml')).toContain('bob@partner.example known');
    // Machines never become people, and never become issues.
    for (const f of ['03-out-of-office.eml', '04-bounce.eml', '05-noreply-newsletter.eml']) {
      expect(row(f)).toMatch(/(auto-reply|bounce|list)\s+\S+\s+-\s+-$/);
    }
    // A denied domain gets no account, but its mail still reaches support.
    expect(row('06-denied-domain.eml')).toContain('eve@example.org ignored (denied-domain)');
    // Each human mail is one issue; the reply is a comment on its thread's issue.
    expect(stdout).toContain('Issues (4):');
    expect(row('08-reply-from-ana.eml')).toMatch(/comment on SUP-\d+/);
    expect(row('07-html-with-attachment.eml')).toContain('(+1 attachment)');
    expect(stdout).toMatch(/Bull Board: http:\/\/127\.0\.0\.1:\d+\/board/);

    // The customer loop, as the demo's SMTP sink received it. Every new issue's verified sender
    // is acknowledged with its key, threaded under their mail; machine mail and the reply
    // (a comment) are not.
    const keyOf = (file: string) => /issue (SUP-\d+)/.exec(row(file))?.[1];
    const mailed = stdout.split('\n').filter((l) => /^(acknowledgement|agent reply) /.test(l));
    const acks = mailed.filter((l) => l.startsWith('acknowledgement'));
    expect(acks, stdout).toHaveLength(4);
    const eve = keyOf('06-denied-domain.eml');
    const ana = keyOf('01-new-customer-printer.eml');
    expect(acks.find((l) => l.includes(' eve@example.org '))).toMatch(new RegExp(`^acknowledgement\\s+support@example\\.com\\s+eve@example\\.org\\s+\\[${eve}\\] Please give me an account\\s+<eve-1@example\\.org>$`));
    expect(acks.find((l) => l.includes('ana.souza@customer-one.test'))).toMatch(new RegExp(`\\[${ana}\\] Printer on floor 3 keeps jamming\\s+<printer-1@customer-one\\.test>$`));
    for (const who of ['dana.away', 'mailer-daemon', 'no-reply']) expect(mailed.join('\n')).not.toContain(who);
    // The agent's public comment reaches the one participant without a Jira account (Eve: her
    // domain is denied), threaded under her first mail; the internal note reaches nobody.
    expect(mailed.filter((l) => l.startsWith('agent reply'))).toEqual([
      expect.stringMatching(new RegExp(`^agent reply\\s+support@example\\.com\\s+eve@example\\.org\\s+Re: \\[${eve}\\] Please give me an account\\s+<eve-1@example\\.org>$`)),
    ]);
    expect(stdout).toContain(`Internal note on ${eve}: not mailed (the comment is restricted (visibility): internal).`);
    // The sink went away with the demo.
    const sink = /SMTP sink \(127\.0\.0\.1:(\d+)\)/.exec(stdout);
    expect(sink).not.toBeNull();
    expect(await listening(Number(sink![1]))).toBe(false);
  }, 180_000);

  it('with no Redis running and no redis-server installed, says in one line how to get one, and exits 3', async () => {
    const port = await freePort();
    const e = await run('node', ['--import', 'tsx', 'src/demo/main.ts', '--once'], {
      cwd: repo,
      env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_SERVER_BIN: join(repo, 'no-such-redis-server') },
      timeout: 60_000,
    }).then(
      () => expect.unreachable('the demo ran without a Redis'),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(e.code).toBe(3);
    expect(e.stdout).toBe('');
    expect(e.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`nothing listens on 127\\.0\\.0\\.1:${port}.*apt-get install redis-server`))]);
  }, 90_000);
});
