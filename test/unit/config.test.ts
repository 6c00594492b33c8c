import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envLogLevel, loadConfig, maskedConfig, parseConfig, requireSecrets } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';
import { configSchema } from '../../src/config/schema.js';
import { parse as parseYaml } from 'yaml';

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

  it('refuses a wait that would become a 1 ms timer: 0, or more than Node\'s 24.8-day timer limit', () => {
    // Node runs setTimeout/setInterval of 0 or over 2^31-1 ms after 1 ms: `parkedRetry: 30d` retried
    // a parked mailbox's login every millisecond, `resyncInterval: 30d` resynced without pause.
    const raw = {
      ...minimal,
      jira: { ...minimal.jira, timeout: '0s' },
      mailboxes: [{ id: 'support', resyncInterval: '30d' }],
      poller: { parkedRetry: '30d', pollInterval: '0ms', reconnectMax: '25d', lockTtl: '0s' },
    };
    expect(problemsOf(raw).map((p) => p.path).sort()).toEqual(['jira.timeout', 'mailboxes[0].resyncInterval', 'poller.lockTtl', 'poller.parkedRetry', 'poller.pollInterval', 'poller.reconnectMax']);
    expect(problemsOf(raw)[0]!.message).toMatch(/between 1ms and 24d/);
    expect(problemsOf({ ...minimal, poller: { parkedRetry: 'a month' } })).toEqual([{ path: 'poller.parkedRetry', message: expect.stringMatching(/a duration such as/) }]);
    expect(parseConfig({ ...minimal, poller: { parkedRetry: '24d', lockTtl: '1ms' } }, {}).poller).toMatchObject({ parkedRetry: '24d', lockTtl: '1ms' });
  });

  it('refuses a replyAllowed entry or an authserv-id that could match nothing, saying what to write', () => {
    // Before, each was accepted and silently matched nothing: the agents of "*.acme.example" had
    // every reply turned into a new issue; "mx.example.com;" (the header's first word, copied with
    // its semicolon) left every sender of the mailbox unverified, without a warning.
    const policy = { replyAllowed: ['*.acme.example', 'a.example,b.example', '@', 'ann@*.acme.example', 'ann@acme.example', '@acme.example', 'acme.example'], authservIds: ['mx.example.com;', 'i=1; mx.arc.example', 'mx.example.com'] };
    const problems = problemsOf({ ...minimal, mailboxes: [{ id: 'support', policy }] });
    expect(problems).toEqual([
      { path: 'mailboxes[0].policy.replyAllowed[0]', message: expect.stringMatching(/no wildcards.*write @acme\.example/) },
      { path: 'mailboxes[0].policy.replyAllowed[1]', message: expect.stringMatching(/one address or domain per list entry/) },
      { path: 'mailboxes[0].policy.replyAllowed[2]', message: expect.stringMatching(/an address \(ann@acme.com\) or a domain/) },
      // The suggestion is the domain, never '@ann@…'.
      { path: 'mailboxes[0].policy.replyAllowed[3]', message: expect.stringMatching(/no wildcards.*\(write @acme\.example for/) },
      { path: 'mailboxes[0].policy.authservIds[0]', message: expect.stringMatching(/is not an authserv-id.*without the ";".*e\.g\. mx\.example\.com/) },
      // Copied from an ARC-Authentication-Results header: the id is the word after its instance.
      { path: 'mailboxes[0].policy.authservIds[1]', message: expect.stringMatching(/e\.g\. mx\.arc\.example\)/) },
    ]);
    const ok = parseConfig({ ...minimal, mailboxes: [{ id: 'support', policy: { replyAllowed: policy.replyAllowed.slice(4), authservIds: ['MX.Example.com'] } }] }, {});
    expect(ok.mailboxes[0]!.policy).toMatchObject({ replyAllowed: ['ann@acme.example', '@acme.example', 'acme.example'], authservIds: ['mx.example.com'] });
  });

  it('refuses a Jira URL holding a user or password, without repeating the password', () => {
    // Accepted before: `config check` printed it under "secrets masked", and fetch's refusal of a
    // credentialed URL quoted it in every failed job's reason.
    for (const [raw, env] of [
      [{ ...minimal, jira: { site: 'https://bot:s3cr3tpw@acme.atlassian.net' } }, {}],
      [minimal, { JIRA_BASE_URL: 'http://bot:s3cr3tpw@jira.internal.example/' }],
      [{ ...minimal, jira: { site: 'https://acme.atlassian.net', apiBase: 'https://s3cr3tpw@api.atlassian.com/ex/jira/1' } }, {}],
    ] as const) {
      const problems = problemsOf(raw, env);
      expect(problems).toEqual([{ path: expect.stringMatching(/^jira\.(site|apiBase)$/), message: expect.stringMatching(/holds a user name or password before the @: remove it/) }]);
      expect(JSON.stringify(problems)).not.toContain('s3cr3tpw');
    }
    const oauth = { provider: 'oauth2', tokenUrl: 'https://c:s3cr3tpw@idp.example/token', clientId: 'c', clientSecretEnv: 'S' };
    const problems = problemsOf({ ...minimal, mailboxes: [{ id: 's', imap: { host: 'imap.example.com', user: 'u', auth: oauth } }] }, { S: 'x' });
    expect(problems).toEqual([{ path: 'mailboxes[0].imap.auth.tokenUrl', message: expect.stringMatching(/holds a user name or password before the @/) }]);
    expect(JSON.stringify(problems)).not.toContain('s3cr3tpw');
    // Spellings a URL parser reads as the same user info (one slash, backslashes) are refused too.
    for (const tokenUrl of ['https:/c:s3cr3tpw@idp.example/token', 'https:\\\\c:s3cr3tpw@idp.example\\token']) {
      const spelled = problemsOf({ ...minimal, mailboxes: [{ id: 's', imap: { host: 'imap.example.com', user: 'u', auth: { ...oauth, tokenUrl } } }] }, { S: 'x' });
      expect(spelled.map((p) => p.message).join('\n'), tokenUrl).toMatch(/holds a user name or password before the @/);
    }
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

  it('refuses a Jira site given as a page of it or without https://, saying what to write', () => {
    for (const site of ['https://acme.atlassian.net/jira', 'https://acme.atlassian.net/jira/software/projects/SUP/boards/1', 'https://acme.atlassian.net/?x=1']) {
      expect(problemsOf({ ...minimal, jira: { site } }), site).toEqual([
        { path: 'jira.site', message: expect.stringMatching(/is a page of the site, not the site: give only https:\/\/acme\.atlassian\.net \(/) },
      ]);
    }
    expect(problemsOf({ ...minimal, jira: { site: 'acme.atlassian.net' } })).toEqual([{ path: 'jira.site', message: '"acme.atlassian.net" has no https:// in front: write https://acme.atlassian.net' }]);
    expect(parseConfig({ ...minimal, jira: { site: 'https://acme.atlassian.net/' } }, {}).jira.site).toBe('https://acme.atlassian.net/');
    // The scoped-token gateway given as the site: not "give only https://api.atlassian.com", which breaks every call.
    expect(problemsOf({ ...minimal, jira: { site: 'https://api.atlassian.com/ex/jira/abc' } })).toEqual([
      { path: 'jira.site', message: expect.stringMatching(/^https:\/\/api\.atlassian\.com\/ex\/jira\/abc is the REST gateway of scoped API tokens, not the site: give it as jira\.apiBase/) },
    ]);
    // A scoped token's apiBase has a path by design.
    expect(parseConfig({ ...minimal, jira: { site: 'https://acme.atlassian.net', apiBase: 'https://api.atlassian.com/ex/jira/abc' } }, {}).jira.apiBase).toContain('/ex/jira/');
  });

  it('refuses a password for Exchange Online, a tenant id that is not one, and one mailbox listed twice', () => {
    const m365 = { host: 'outlook.office365.com', user: 'support@contoso.com' };
    expect(problemsOf({ ...minimal, mailboxes: [{ id: 'support', imap: { ...m365, passwordEnv: 'SUPPORT_IMAP_PASSWORD' } }] })).toEqual([
      { path: 'mailboxes[0].imap.passwordEnv', message: expect.stringMatching(/^outlook\.office365\.com \(Microsoft 365\) takes no password for IMAP: .*Replace passwordEnv with an auth block \(provider: microsoft/) },
    ]);
    const auth = (tenantId: string) => ({ ...minimal, mailboxes: [{ id: 'support', imap: { ...m365, auth: { provider: 'microsoft', tenantId, clientId: 'app', clientSecretEnv: 'S' } } }] });
    for (const [tenantId, why] of [
      ['8f0c1d2e-1111-2222-3333', '8-4-4-4-12 hexadecimal digits'],
      ['https://login.microsoftonline.com/8f0c1d2e-1111-2222-3333-444455556666', 'not a URL'],
      ['{8f0c1d2e-1111-2222-3333-444455556666}', 'without the braces'],
      ['organizations', 'your own tenant'],
    ]) {
      expect(problemsOf(auth(tenantId!), { S: 's' }), tenantId).toEqual([{ path: 'mailboxes[0].imap.auth.tenantId', message: expect.stringContaining(`"${tenantId}" is not a Directory (tenant) ID (`) }]);
      expect(problemsOf(auth(tenantId!), { S: 's' })[0]!.message).toContain(why);
    }
    for (const tenantId of ['8F0C1D2E-1111-2222-3333-444455556666', 'contoso.onmicrosoft.com']) expect(parseConfig(auth(tenantId), { S: 's' }).mailboxes[0]!.imap!.auth).toMatchObject({ tenantId });
    const twice = { ...minimal, mailboxes: [{ id: 'support', imap: { ...m365, auth: auth('contoso.com').mailboxes[0]!.imap.auth } }, { id: 'help', imap: { ...m365, user: 'Support@Contoso.com', auth: auth('contoso.com').mailboxes[0]!.imap.auth } }] };
    expect(problemsOf(twice, { S: 's' })).toEqual([{ path: 'mailboxes[1].imap', message: expect.stringMatching(/^reads the same mailbox as mailboxes\[0\] \("support"\): .*remove one of the two entries/) }]);
    // Another folder of the same account is another mailbox.
    expect(parseConfig({ ...twice, mailboxes: [twice.mailboxes[0]!, { ...twice.mailboxes[1]!, imap: { ...twice.mailboxes[1]!.imap, folder: 'Billing' } }] }, { S: 's' }).mailboxes).toHaveLength(2);
  });

  it('refuses a mailbox action the server would refuse on every try, one that deletes mail, and a move into the folder read', () => {
    const imap = { host: 'imap.example.com', user: 'support@example.com', passwordEnv: 'P' };
    const withAfter = (after: unknown, folder?: string) => ({ ...minimal, mailboxes: [{ id: 'support', imap: { ...imap, ...(folder ? { folder } : {}) }, after }] });
    for (const flag of ['Mailroom Done', '(Done)', '"Done"', 'Done]', 'Done*', '\\Deleted', '\\Recent', 'Done\r\nA1 LOGOUT', 'Erledigt✓']) {
      expect(problemsOf(withAfter({ action: 'flag', flag }), { P: 'p' }), flag).toEqual([{ path: 'mailboxes[0].after.flag', message: expect.stringContaining('an IMAP keyword such as $MailroomDone') }]);
    }
    expect(problemsOf(withAfter({ action: 'flag', flag: '\\Deleted' }), { P: 'p' })[0]!.message).toContain('not \\Deleted: the next expunge');
    for (const flag of ['$MailroomDone', 'Mailroom_Done', '\\Seen', '\\flagged']) expect(parseConfig(withAfter({ action: 'flag', flag }), { P: 'p' }).mailboxes[0]!.after, flag).toEqual({ action: 'flag', flag });
    for (const folder of ['Done*', 'Done%', 'Done\nX']) {
      expect(problemsOf(withAfter({ action: 'move', folder }), { P: 'p' }), folder).toEqual([{ path: 'mailboxes[0].after.folder', message: expect.stringContaining('without control characters, * or %') }]);
    }
    // Moved into the folder it reads (INBOX in any case), each mail would come back and move again.
    expect(problemsOf(withAfter({ action: 'move', folder: 'inbox' }), { P: 'p' })).toEqual([{ path: 'mailboxes[0].after.folder', message: expect.stringMatching(/^is the folder this mailbox reads \(INBOX\): .*name another folder/) }]);
    // Exchange and Gmail take every folder name in any case.
    expect(problemsOf(withAfter({ action: 'move', folder: 'support' }, 'Support'), { P: 'p' })).toHaveLength(1);
    // Nor into a folder another entry reads on the same account: each mail would become work twice.
    const imapOf = (folder: string) => ({ ...imap, folder });
    const two = (target: string, host = imap.host) => ({ ...minimal, mailboxes: [{ id: 'support', imap: imapOf('INBOX'), after: { action: 'move', folder: target } }, { id: 'billing', imap: { ...imapOf('Billing'), host } }] });
    expect(problemsOf(two('billing'), { P: 'p' })).toEqual([{ path: 'mailboxes[0].after.folder', message: expect.stringMatching(/^is the folder mailboxes\[1\] \("billing"\) reads: .*become Jira work twice/) }]);
    expect(parseConfig(two('Billing', 'imap.other.example'), { P: 'p' }).mailboxes).toHaveLength(2);
    for (const [folder, read] of [['Processed', 'INBOX'], ['INBOX/Done', 'INBOX'], ['Support/Done', 'Support']] as const) {
      expect(parseConfig(withAfter({ action: 'move', folder }, read), { P: 'p' }).mailboxes[0]!.after).toEqual({ action: 'move', folder });
    }
  });

  it('says a key is missing, a section has nothing under it, and names unknown keys under their section', () => {
    expect(problemsOf({ ...minimal, mailboxes: [{ id: 'support', deliver: { issueType: 'Task' } }] })).toEqual([
      { path: 'mailboxes[0].deliver.project', message: expect.stringMatching(/^missing: the key of the Jira project, such as SUP/) },
    ]);
    expect(problemsOf({ ...minimal, mailboxes: [{ id: 'support', imap: { host: 'h' } }] })).toContainEqual({ path: 'mailboxes[0].imap.user', message: 'missing: add it (expected string)' });
    // `jira:` and `site:` at the same indentation, as YAML reads it.
    expect(problemsOf({ jira: null, site: 'https://acme.atlassian.net', mailboxes: [{ id: 'support' }] })).toEqual([
      { path: 'jira', message: expect.stringMatching(/^has nothing under it: indent the keys that belong to it below it/) },
      { path: 'site', message: expect.stringContaining('unknown key "site"') },
    ]);
    expect(problemsOf({ ...minimal, mailboxes: [{ id: 'support', imap: null, host: 'h', user: 'u' }] })).toContainEqual({ path: 'mailboxes[0]', message: 'unknown keys "host", "user": remove or correct them' });
    expect(problemsOf(null)).toEqual([{ path: '', message: 'the configuration is empty: copy mailroom.example.yml and edit it' }]);
    expect(problemsOf({ ...minimal, mailboxes: { id: 'support' } })).toEqual([{ path: 'mailboxes', message: expect.stringMatching(/^expected a list: start each entry with "- "/) }]);
    expect(problemsOf({ ...minimal, mailboxes: [{ id: 'support', imap: { host: 'h', port: '993', user: 'u', passwordEnv: 'P' } }] })).toEqual([
      { path: 'mailboxes[0].imap.port', message: 'expected a number: write it without quotes' },
    ]);
    expect(parseConfig({ ...minimal, mailboxes: [{ id: 'support', imap: { host: 'h', user: ' support@acme.com ', passwordEnv: 'P' } }] }, {}).mailboxes[0]!.imap!.user).toBe('support@acme.com');
  });

  it('a secret pasted where its variable\'s name belongs is refused without being repeated', () => {
    const secret = 'Xk9#pw word';
    const p = problemsOf({
      ...minimal,
      mailboxes: [{ id: 'support', imap: { host: 'h', user: 'u', passwordEnv: secret } }],
      smtp: { host: 's', from: 'a@b.c', passwordEnv: secret },
      notifications: { webhookSecretEnv: secret },
    });
    expect(p.map((x) => x.path)).toEqual(['mailboxes[0].imap.passwordEnv', 'smtp.passwordEnv', 'notifications.webhookSecretEnv']);
    for (const x of p) expect(x.message).toMatch(/^the name of the environment variable that holds the secret, such as [A-Z_]+ .*not the secret itself/);
    expect(JSON.stringify(p)).not.toContain('Xk9');
    // The secret itself under a key of its own: the key that names its variable instead.
    const pasted = problemsOf({ ...minimal, jira: { ...minimal.jira, apiToken: secret }, mailboxes: [{ id: 'support', imap: { host: 'h', user: 'u', passwordEnv: 'P', password: secret } }] });
    expect(pasted).toEqual([
      { path: 'jira.apiToken', message: expect.stringMatching(/^unknown key "apiToken": the Jira API token is never written in this file; store it with `mailroom token set`/) },
      { path: 'mailboxes[0].imap.password', message: expect.stringMatching(/^unknown key "password": no secret is written in this file .*with passwordEnv instead/) },
    ]);
    expect(JSON.stringify(pasted)).not.toContain('Xk9');
  });

  it('says how to write an address given as a mail client shows it', () => {
    expect(problemsOf({ ...minimal, mailboxes: [{ id: 'support', addresses: [' Support@Acme.com ', 'Help Desk <Help@Acme.com>', 'a@acme.com, b@acme.com'] }] })).toEqual([
      { path: 'mailboxes[0].addresses[1]', message: '"help desk <help@acme.com>": give the bare address, help@acme.com' },
      { path: 'mailboxes[0].addresses[2]', message: '"a@acme.com, b@acme.com" holds several addresses: one address per list entry' },
    ]);
    expect(parseConfig({ ...minimal, mailboxes: [{ id: 'support', addresses: [' Support@Acme.com '] }] }, {}).mailboxes[0]!.addresses).toEqual(['support@acme.com']);
  });

  it('the Microsoft 365 and Google blocks of docs/oauth-mailboxes.md pass, their placeholders filled in', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/oauth-mailboxes.md'), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/^ {3}/gm, ''));
    const fill = (y: string) => y.replace(/<directory-tenant-id>|<id>(?=, clientId)/g, '8f0c1d2e-7a3b-4c5d-9e6f-0a1b2c3d4e5f').replace(/<application-client-id>|<id>/g, '11111111-2222-3333-4444-555555555555');
    const m365 = parseYaml(fill(blocks[0]!)) as Record<string, unknown>;
    const c = parseConfig({ jira: minimal.jira, ...m365 }, { SUPPORT_OAUTH_SECRET: 's' });
    expect(c.mailboxes[0]!.imap!.auth).toMatchObject({ provider: 'microsoft' });
    expect(c.smtp!.auth).toMatchObject({ provider: 'microsoft' });
    const google = parseYaml(blocks[1]!) as { auth: { serviceAccountKeyFile: string } };
    const schema = configSchema.safeParse({ jira: minimal.jira, mailboxes: [{ id: 'support', imap: { host: 'imap.gmail.com', user: 'support@example.com', auth: google.auth } }] });
    expect(schema.success, JSON.stringify(schema.error?.issues)).toBe(true);
  });

  it('reports unreadable YAML with its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrcfg-'));
    const f = join(dir, 'bad.yml');
    writeFileSync(f, 'jira:\n  site: [unclosed\n');
    expect(() => loadConfig(f, {})).toThrow(/not valid YAML/);
    writeFileSync(f, 'jira:\n\tsite: https://acme.atlassian.net\n');
    expect(() => loadConfig(f, {})).toThrow(/is not valid YAML at line 2, column 1: Tabs are not allowed as indentation$/);
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
