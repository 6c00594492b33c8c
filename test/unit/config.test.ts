import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envLogLevel, loadConfig, maskedConfig, parseConfig, requireSecrets } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';

const minimal = {
  jira: { site: 'https://acme.atlassian.net' },
  mailboxes: [{ id: 'support' }],
};

function problemsOf(raw: unknown, env: Record<string, string> = {}): { path: string; message: string }[] {
  try {
    parseConfig(raw, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('fills defaults for a minimal config', () => {
    const c = parseConfig(minimal, {});
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.prefix).toBe('{mailroom}');
    expect(c.mailboxes[0]!.policy.autoCreate).toBe('none');
    expect(c.mailboxes[0]!.policy.blockedLocalParts.length).toBeGreaterThan(3);
    expect(c.store).toEqual({ kind: 'fs', dir: 'var/mail' });
  });

  it('reports a malformed or too short store retention as a config problem, not a crash', () => {
    expect(problemsOf({ ...minimal, store: { kind: 'fs', retention: 'a week' } })).toEqual([
      { path: 'store.retention', message: expect.stringMatching(/a duration such as/) },
    ]);
    expect(problemsOf({ ...minimal, store: { kind: 'redis', retention: '30m' } })).toEqual([
      { path: 'store.retention', message: expect.stringMatching(/at least 1h/) },
    ]);
    expect(parseConfig({ ...minimal, store: { kind: 'redis', retention: '7d' } }, {}).store).toMatchObject({ retention: '7d' });
  });

  it('takes REDIS_URL, MAILROOM_PREFIX and JIRA_BASE_URL from the environment', () => {
    const c = parseConfig(minimal, {
      REDIS_URL: 'redis://10.0.0.5:6380',
      MAILROOM_PREFIX: '{acme}',
      JIRA_BASE_URL: 'https://other.atlassian.net',
    });
    expect(c.redisUrl).toBe('redis://10.0.0.5:6380');
    expect(c.prefix).toBe('{acme}');
    expect(c.jira.site).toBe('https://other.atlassian.net');
  });

  it('names an unknown key by its path', () => {
    const p = problemsOf({ ...minimal, mailboxes: [{ id: 'support', polcy: {} }] });
    expect(p).toEqual([expect.objectContaining({ path: 'mailboxes[0].polcy', message: expect.stringContaining('unknown key') })]);
  });

  it('says what values are valid for an enum', () => {
    const p = problemsOf({ ...minimal, mailboxes: [{ id: 'support', policy: { autoCreate: 'yes' } }] });
    expect(p[0]!.path).toBe('mailboxes[0].policy.autoCreate');
    expect(p[0]!.message).toContain('"none", "user", "customer"');
  });

  it('refuses plain-http Jira except on loopback', () => {
    expect(problemsOf({ ...minimal, jira: { site: 'http://acme.atlassian.net' } })[0]).toMatchObject({ path: 'jira.site' });
    expect(parseConfig({ ...minimal, jira: { site: 'http://127.0.0.1:8990' } }, {}).jira.site).toBe('http://127.0.0.1:8990');
  });

  it('asks for a missing IMAP password only in the role that uses it, naming the key and the variable', () => {
    const raw = {
      ...minimal,
      mailboxes: [{ id: 'support', imap: { host: 'imap.example.com', user: 'support@example.com', passwordEnv: 'SUPPORT_PW' } }],
      smtp: { host: 'smtp.example.com', from: 'mailroom@example.com', user: 'mailroom', passwordEnv: 'SMTP_PW' },
    };
    // status, token rotate, the web role: the configuration loads without the password.
    const c = parseConfig(raw, {});
    expect(() => requireSecrets(c, 'web')).not.toThrow();
    // The poller refuses, naming the IMAP variable only; the notifier names the SMTP one only.
    const poller = (() => {
      try {
        requireSecrets(c, 'poller');
      } catch (e) {
        return (e as ConfigError).problems;
      }
      return [];
    })();
    expect(poller).toEqual([{ path: 'mailboxes[0].imap.passwordEnv', message: expect.stringContaining('SUPPORT_PW') }]);
    expect(() => requireSecrets(c, 'notifier')).toThrow(/smtp\.passwordEnv: environment variable SMTP_PW is not set/);
    const full = parseConfig(raw, { SUPPORT_PW: 'hunter22', SMTP_PW: 'smtp-secret' });
    expect(full.secrets.imapPasswords.support).toBe('hunter22');
    expect(() => requireSecrets(full, 'poller', 'notifier', 'web')).not.toThrow();
  });

  it('takes PORT for the web role and MAILROOM_LOG_LEVEL (or LOG_LEVEL) for the log level', () => {
    const c = parseConfig({ ...minimal, web: { port: 3000 }, log: { level: 'info' } }, { PORT: '8080', LOG_LEVEL: 'debug' });
    expect(c.web.port).toBe(8080);
    expect(c.log.level).toBe('debug');
    expect(parseConfig(minimal, { LOG_LEVEL: 'debug', MAILROOM_LOG_LEVEL: 'WARN' }).log.level).toBe('warn');
    expect(problemsOf(minimal, { PORT: 'http' })).toEqual([{ path: 'PORT', message: expect.stringContaining('not a TCP port') }]);
    expect(problemsOf(minimal, { MAILROOM_LOG_LEVEL: 'loud' })).toEqual([
      { path: 'MAILROOM_LOG_LEVEL', message: expect.stringContaining('fatal, error, warn, info, debug, trace, silent') },
    ]);
    expect(envLogLevel({ LOG_LEVEL: 'error' })).toBe('error');
    expect(envLogLevel({ LOG_LEVEL: 'loud' })).toBe('info');
  });

  it('requires a service desk for customer auto-creation', () => {
    const p = problemsOf({ ...minimal, mailboxes: [{ id: 'support', policy: { autoCreate: 'customer' } }] });
    expect(p[0]!.path).toBe('mailboxes[0].policy.serviceDeskId');
  });

  it('rejects duplicate mailbox ids and bad regexes together', () => {
    const p = problemsOf({
      ...minimal,
      mailboxes: [{ id: 'a', policy: { blockedLocalParts: ['(unclosed'] } }, { id: 'a' }],
    });
    expect(p.map((x) => x.path).sort()).toEqual(['mailboxes[0].policy.blockedLocalParts[0]', 'mailboxes[1].id']);
  });

  it('masks every secret when printed', () => {
    const c = parseConfig(
      { ...minimal, mailboxes: [{ id: 'support', imap: { host: 'h', user: 'u', passwordEnv: 'PW' } }] },
      { PW: 'topsecret-imap', MAILROOM_SECRET_KEY: 'a2V5LWtleS1rZXk=', REDIS_URL: 'redis://:redispass@127.0.0.1:6379' },
    );
    const text = JSON.stringify(maskedConfig(c));
    expect(text).not.toContain('topsecret-imap');
    expect(text).not.toContain('a2V5LWtleS1rZXk=');
    expect(text).not.toContain('redispass');
  });

  it('reports unreadable YAML with its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrcfg-'));
    const f = join(dir, 'bad.yml');
    writeFileSync(f, 'jira:\n  site: [unclosed\n');
    expect(() => loadConfig(f, {})).toThrow(/not valid YAML/);
    expect(() => loadConfig(join(dir, 'missing.yml'), {})).toThrow(/no configuration file/);
  });
});

describe('config check warnings: a notification group that is also a provisioning group (issue 23)', () => {
  const withRules = (groups: string[], autoCreate = 'user') =>
    parseConfig(
      {
        ...minimal,
        mailboxes: [{ id: 'support', policy: { autoCreate, groups: ['support-customers', { groupId: 'abc-123' }], ...(autoCreate === 'customer' ? { serviceDeskId: '1' } : {}) } }],
        notifications: { rules: [{ project: 'SUP', events: ['issue_created'], groups }] },
      },
      {},
    );

  it('names the rule group, the provisioning group and what to do instead', async () => {
    const { notifyGroupOverlaps } = await import('../../src/config/notify-overlap.js');
    expect(notifyGroupOverlaps(withRules(['support-agents', 'Support-Customers']))).toEqual([
      {
        path: 'notifications.rules[0].groups[1]',
        message: expect.stringMatching(/group "Support-Customers" is also the auto-provisioning group mailboxes\[0\]\.policy\.groups\[0\] \(mailbox "support"\): every outsider .* notify a staff-only group instead/),
      },
    ]);
    expect(notifyGroupOverlaps(withRules(['support-agents']))).toEqual([]);
    // Customers (JSM) are not put in groups: nothing to warn about.
    expect(notifyGroupOverlaps(withRules(['support-customers'], 'customer'))).toEqual([]);
  });
});
