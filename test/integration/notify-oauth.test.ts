// The notifier's SMTP login with OAuth 2.0: a real SMTP server (smtp-server) that offers only
// XOAUTH2 and accepts a token only while the local authorization server says it is live, so
// plain passwords are refused. A token the server stops accepting is replaced once (nodemailer
// asks with renew); a revoked grant fails with the SMTP answer and what to grant.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/config/load.js';
import { createMailer, type OutgoingMessage } from '../../src/notify/mailer.js';
import { outcomesOfError } from '../../src/notify/smtp-outcome.js';
import { smtpTokenSource } from '../../src/oauth/tokens.js';
import { startOAuthServer, type OAuthServer } from '../helpers/oauth-server.js';

const SENDER = 'support@contoso.example';
let oauth: OAuthServer;
let smtp: SMTPServer;
let port: number;
const logins: { method: string; user?: string; ok: boolean }[] = [];
const received: string[] = [];
/** Senders whose app lacks the mail server's permission (Entra issues tokens; Exchange refuses them). */
const noPermission = new Set<string>();

beforeAll(async () => {
  oauth = await startOAuthServer();
  oauth.entra.push({ tenant: 'contoso.example', clientId: 'notifier-app', secret: 'notifier-secret', mailbox: SENDER });
  smtp = new SMTPServer({
    authMethods: ['XOAUTH2'],
    // Loopback without TLS in tests; the point here is which mechanism is offered.
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    disableReverseLookup: true,
    onAuth(auth, _session, cb) {
      const live = oauth.issued.find((t) => t.token === auth.accessToken && !t.revoked && t.expiresAt > Date.now());
      const ok = auth.method === 'XOAUTH2' && !!live && live.user === auth.username && !noPermission.has(live.user);
      logins.push({ method: auth.method, user: auth.username, ok });
      if (ok) return cb(null, { user: auth.username });
      // RFC 7628 / Google's XOAUTH2 failure: a JSON challenge, then 535 after the client's empty reply.
      cb(null, { data: { status: '401', schemes: 'bearer', scope: 'https://outlook.office365.com/.default' } });
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push(`${String(session.user)}:${Buffer.concat(chunks).toString('utf8')}`);
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  port = (smtp.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  await oauth.stop();
});

function config(smtpSection: Record<string, unknown>, env: Record<string, string>): Config {
  return parseConfig(
    {
      jira: { site: 'http://127.0.0.1:1' },
      mailboxes: [{ id: 'support' }],
      smtp: { host: '127.0.0.1', port, secure: false, from: SENDER, ...smtpSection },
    },
    env,
  );
}

const entraAuth = () => ({ provider: 'microsoft', tenantId: 'contoso.example', clientId: 'notifier-app', clientSecretEnv: 'NOTIFIER_SECRET', authority: oauth.url });

let n = 0;
function message(): OutgoingMessage {
  n++;
  return {
    from: SENDER,
    recipients: ['agent@contoso.example'],
    bcc: false,
    subject: `Notification ${n}`,
    text: `Body ${n}`,
    headers: {},
    messageId: `<notify-${n}@mailroom.test>`,
  };
}

describe('SMTP with XOAUTH2', () => {
  it('sends with an access token from the configured provider', async () => {
    const c = config({ user: SENDER, auth: entraAuth() }, { NOTIFIER_SECRET: 'notifier-secret' });
    const mailer = createMailer(c.smtp, undefined, smtpTokenSource(c));
    try {
      await mailer.send(message());
    } finally {
      mailer.close();
    }
    expect(logins.at(-1)).toEqual({ method: 'XOAUTH2', user: SENDER, ok: true });
    expect(received.at(-1)).toMatch(/^support@contoso\.example:[\s\S]*Subject: Notification 1/);
  });

  it('a password login is refused by a server that takes only XOAUTH2', async () => {
    const c = config({ user: SENDER, passwordEnv: 'SMTP_PASSWORD' }, { SMTP_PASSWORD: 'a-plain-password' });
    const mailer = createMailer(c.smtp, c.secrets.smtpPassword);
    const before = received.length;
    try {
      const err = (await mailer.send(message()).catch((e: unknown) => e)) as { code?: string };
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe('EAUTH');
    } finally {
      mailer.close();
    }
    expect(received.length).toBe(before);
  });

  it('a token the server no longer takes is replaced once, and the mail goes out', async () => {
    const c = config({ user: SENDER, auth: entraAuth() }, { NOTIFIER_SECRET: 'notifier-secret' });
    const tokens = smtpTokenSource(c)!;
    const first = createMailer(c.smtp, undefined, tokens);
    await first.send(message()).finally(() => first.close());
    const used = await tokens.get();
    // Lapsed on the server's side, while the cache still deems it good.
    oauth.expire(used);
    const issuedBefore = oauth.issued.length;
    const second = createMailer(c.smtp, undefined, tokens);
    await second.send(message()).finally(() => second.close());
    expect(oauth.issued.length).toBe(issuedBefore + 1);
    expect(logins.slice(-2).map((l) => l.ok)).toEqual([false, true]);
    expect(received.at(-1)).toMatch(/Subject: Notification \d+/);
  });

  it('a token the mail server keeps refusing fails the send as a login problem (retried, not dropped) with what to grant', async () => {
    oauth.entra.push({ tenant: 'revoked.example', clientId: 'revoked-app', secret: 'revoked-secret', mailbox: 'revoked@contoso.example' });
    const c = config(
      { user: 'revoked@contoso.example', auth: { ...entraAuth(), tenantId: 'revoked.example', clientId: 'revoked-app', clientSecretEnv: 'S' } },
      { S: 'revoked-secret' },
    );
    // The mailbox's permission is withdrawn: Entra still issues tokens, the mail server refuses them.
    noPermission.add('revoked@contoso.example');
    const mailer = createMailer(c.smtp, undefined, smtpTokenSource(c));
    try {
      const err = (await mailer.send(message()).catch((e: unknown) => e)) as { code?: string; response?: string };
      expect(err.code).toBe('EAUTH');
      expect(err.response).toMatch(/535 .*SMTP\.SendAsApp.*Set-CASMailbox/);
      const outcome = outcomesOfError(['agent@contoso.example'], err);
      expect(outcome['agent@contoso.example']?.state).toBe('deferred');
    } finally {
      mailer.close();
    }
  });

  it('a revoked grant: the token endpoint refuses, and the send fails as a login problem naming the error', async () => {
    oauth.entra.push({ tenant: 'gone.example', clientId: 'gone-app', secret: 'gone-secret', mailbox: 'gone@contoso.example' });
    const c = config({ user: 'gone@contoso.example', auth: { ...entraAuth(), tenantId: 'gone.example', clientId: 'gone-app', clientSecretEnv: 'S' } }, { S: 'gone-secret' });
    const tokens = smtpTokenSource(c)!;
    await tokens.get();
    oauth.revoke('gone@contoso.example');
    const mailer = createMailer(c.smtp, undefined, tokens);
    try {
      const err = (await mailer.send(message()).catch((e: unknown) => e)) as { code?: string; message?: string };
      expect(err.code).toBe('EAUTH');
      expect(err.message).toMatch(/Microsoft Entra ID refused a token for gone@contoso\.example \(invalid_grant: access for gone@contoso\.example was revoked\)/);
      expect(outcomesOfError(['agent@contoso.example'], err)['agent@contoso.example']?.state).toBe('deferred');
    } finally {
      mailer.close();
    }
  });

  it('the token endpoint refusing says so, with the AADSTS code', async () => {
    const c = config({ user: SENDER, auth: entraAuth() }, { NOTIFIER_SECRET: 'wrong-secret' });
    const mailer = createMailer(c.smtp, undefined, smtpTokenSource(c));
    try {
      const err = (await mailer.send(message()).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(/AADSTS7000215/);
      expect(err.message).not.toContain('wrong-secret');
    } finally {
      mailer.close();
    }
  });

  it('smtp.auth needs smtp.user (the mailbox the token sends as)', () => {
    expect(() => config({ auth: entraAuth() }, { NOTIFIER_SECRET: 'x' })).toThrow(/smtp\.user: required with auth/);
  });
});
