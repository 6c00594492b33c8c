// Every secret variable accepts an X_FILE form (issue 24, point 7): compose `secrets:` and
// systemd credentials hand a role its secrets as files. Real files in a temp directory.
import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'mailroom-secret-files-'));
function secretFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

const withSecrets = {
  jira: { site: 'https://acme.atlassian.net' },
  mailboxes: [
    { id: 'support', imap: { host: 'imap.example.com', user: 'support@example.com', passwordEnv: 'SUPPORT_IMAP_PASSWORD' } },
    {
      id: 'oauth',
      imap: {
        host: 'imap.example.com',
        user: 'o@example.com',
        auth: { provider: 'oauth2', tokenUrl: 'https://login.example.com/token', clientId: 'c', clientSecretEnv: 'OAUTH_SECRET', refreshTokenEnv: 'OAUTH_REFRESH' },
      },
    },
  ],
  smtp: { host: 'smtp.example.com', from: 'mailroom@example.com', user: 'mailroom@example.com', passwordEnv: 'SMTP_PASSWORD' },
  notifications: { webhookSecretEnv: 'JIRA_WEBHOOK_SECRET' },
};

function problemsOf(env: Record<string, string>): { path: string; message: string }[] {
  try {
    parseConfig(withSecrets, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('secrets from X_FILE variables', () => {
  it('reads every secret the config names, and the fixed ones, from files, trimming one trailing newline', () => {
    const c = parseConfig(withSecrets, {
      SUPPORT_IMAP_PASSWORD_FILE: secretFile('imap', 'imap-pw\n'),
      SMTP_PASSWORD_FILE: secretFile('smtp', 'smtp-pw\r\n'),
      JIRA_WEBHOOK_SECRET_FILE: secretFile('hook', 'hook secret  \n\n'),
      OAUTH_SECRET_FILE: secretFile('oauth', 'client-secret'),
      OAUTH_REFRESH_FILE: secretFile('refresh', 'refresh-token\n'),
      MAILROOM_WEB_USER: 'ops',
      MAILROOM_WEB_PASSWORD_FILE: secretFile('web', 'web-pw\n'),
      MAILROOM_WEB_READONLY_PASSWORD_FILE: secretFile('web-ro', 'ro-pw\n'),
      REDIS_URL_FILE: secretFile('redis', 'redis://:r3dis@10.0.0.5:6380\n'),
    });
    expect(c.secrets.imapPasswords).toEqual({ support: 'imap-pw' });
    expect(c.secrets.smtpPassword).toBe('smtp-pw');
    // Only ONE newline is trimmed: the rest (spaces, a second newline) is the value.
    expect(c.secrets.webhookSecret).toBe('hook secret  \n');
    expect(c.secrets.oauth?.['imap:oauth']).toBeDefined();
    expect(Object.values(c.secrets.oauth ?? {})[0]).toEqual({ clientSecret: 'client-secret', refreshToken: 'refresh-token' });
    expect(c.webAuth.password).toBe('web-pw');
    expect(c.webAuth.readonlyPassword).toBe('ro-pw');
    expect(c.redisUrl).toBe('redis://:r3dis@10.0.0.5:6380');
    expect(c.missingSecrets).toEqual([]);
  });

  it('refuses both forms of one variable, naming the variable', () => {
    const problems = problemsOf({ SMTP_PASSWORD: 'a', SMTP_PASSWORD_FILE: secretFile('smtp2', 'b'), SUPPORT_IMAP_PASSWORD: 'x', OAUTH_SECRET: 's', OAUTH_REFRESH: 'r' });
    expect(problems).toEqual([{ path: 'SMTP_PASSWORD_FILE', message: expect.stringContaining('both SMTP_PASSWORD and SMTP_PASSWORD_FILE are set') }]);
  });

  it('says which file cannot be read or is empty, without printing any secret', () => {
    const locked = secretFile('locked', 'secret-value');
    chmodSync(locked, 0o000);
    const problems = problemsOf({
      SUPPORT_IMAP_PASSWORD_FILE: join(dir, 'absent'),
      OAUTH_SECRET_FILE: secretFile('empty', '\n'),
      MAILROOM_WEB_PASSWORD_FILE: dir,
    });
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    expect(byPath.SUPPORT_IMAP_PASSWORD_FILE).toMatch(/cannot read .*absent \(SUPPORT_IMAP_PASSWORD_FILE\): it does not exist/);
    expect(byPath.OAUTH_SECRET_FILE).toMatch(/is empty/);
    expect(byPath.MAILROOM_WEB_PASSWORD_FILE).toMatch(/it is a directory/);
    expect(JSON.stringify(problems)).not.toContain('secret-value');
  });

  it('leaves the token key file to its own reader (it may hold raw bytes)', () => {
    const c = parseConfig({ jira: withSecrets.jira, mailboxes: [{ id: 'support' }] }, { MAILROOM_SECRET_KEY_FILE: '/etc/mailroom/key' });
    expect(c.secretKey).toEqual({ base64: undefined, file: '/etc/mailroom/key' });
  });
});
