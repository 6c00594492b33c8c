// `npm run demo` is the README's main-job command: run it as a person would (with --once so it
// exits after its report) and check the story it tells is the one the pipeline should produce.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const prefix = uniquePrefix('demo');
const redis = testRedis();

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('npm run demo', () => {
  it('feeds the sample mails through the whole pipeline and reports accounts, groups and issues', async () => {
    const { stdout } = await run('node', ['--import', 'tsx', 'src/demo/main.ts', '--once'], {
      cwd: repo,
      env: { ...process.env, MAILROOM_PREFIX: prefix, MAILROOM_LOG_LEVEL: 'error' },
      timeout: 150_000,
    });
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
  }, 180_000);
});
