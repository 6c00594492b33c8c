// `mailroom config check` as a first install meets it: every example configuration the repository
// ships passes it, and a newcomer's usual mistakes are refused with exit 2, one line per problem
// under its key path, no stack trace and no secret.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'mr-configcheck-'));
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['MAILROOM_CONFIG', 'JIRA_BASE_URL', 'PORT', 'LOG_LEVEL', 'MAILROOM_LOG_LEVEL']) if (!(k in extra)) delete e[k];
  return e;
};

describe('mailroom config check on the shipped examples', () => {
  it.each([
    ['mailroom.example.yml', {}],
    ['docker/mailroom.docker.yml', { JIRA_BASE_URL: 'https://acme.atlassian.net' }],
  ])('%s passes', async (file, extra) => {
    const run = await runCli(['config', 'check'], { config: join(ROOT, file), env: env(extra) });
    expect(run.stderr).not.toMatch(/Invalid configuration|Error|\n\s+at /);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`# effective configuration from ${join(ROOT, file)}`);
  });
});

describe('mailroom config check on a newcomer\'s Microsoft 365 mailbox', () => {
  const secret = 'Hunter2-imap-secret-value';
  const write = (name: string, imap: string[]): string => {
    const f = join(dir, name);
    writeFileSync(f, ['jira:', '  site: https://acme.atlassian.net/jira', 'mailboxes:', '  - id: support', '    imap:', ...imap.map((l) => `      ${l}`), '    deliver: { project: SUP }', ''].join('\n'));
    return f;
  };

  it('a password on outlook.office365.com and a page of the site: both named, exit 2, no trace, no secret', async () => {
    const config = write('password.yml', ['host: outlook.office365.com', 'user: Support@Contoso.com', 'passwordEnv: SUPPORT_IMAP_PASSWORD']);
    const run = await runCli(['config', 'check'], { config, env: env({ SUPPORT_IMAP_PASSWORD: secret }) });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      'Invalid configuration:',
      '  - jira.site: https://acme.atlassian.net/jira is a page of the site, not the site: give only https://acme.atlassian.net (Mailroom adds /rest/api/… itself)',
      expect.stringMatching(/^ {2}- mailboxes\[0\]\.imap\.passwordEnv: outlook\.office365\.com \(Microsoft 365\) takes no password for IMAP: .*docs\/oauth-mailboxes\.md shows$/),
    ]);
    expect(run.stdout + run.stderr).not.toContain(secret);
  });

  it('without the OAuth client secret: config check notes it for the poller, exit 0; mailboxes test names it, exit 1', async () => {
    const config = write('oauth.yml', ['host: outlook.office365.com', 'user: support@contoso.com', 'auth: { provider: microsoft, tenantId: contoso.onmicrosoft.com, clientId: app, clientSecretEnv: SUPPORT_OAUTH_SECRET }']);
    writeFileSync(config, readFileSync(config, 'utf8').replace('https://acme.atlassian.net/jira', 'https://acme.atlassian.net'));
    const check = await runCli(['config', 'check'], { config, env: env() });
    expect(check.stderr.trim()).toBe(
      "note: mailboxes[0].imap.auth.clientSecretEnv: environment variable SUPPORT_OAUTH_SECRET is not set: export the app registration's client secret (its Value) in it (the poller role will not start without it)",
    );
    expect(check.code).toBe(0);
    const test = await runCli(['mailboxes', 'test', 'support'], { config, env: env() });
    expect(test.stdout).toContain('FAIL  mailboxes[0].imap.auth.clientSecretEnv: environment variable SUPPORT_OAUTH_SECRET is not set');
    expect(test.code).toBe(1);
  });
});
