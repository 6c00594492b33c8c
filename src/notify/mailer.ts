// The SMTP side: a nodemailer transport from config.smtp, and sending one prepared message.
import nodemailer from 'nodemailer';
import type { Config } from '../config/load.js';
import { decideTls, smtpTlsOptions, type TlsDecision } from '../config/tls.js';
import { PermanentError } from '../core/errors.js';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { registerSecret } from '../core/log.js';
import { loginRefusedHint } from '../oauth/errors.js';
import type { TokenSource } from '../oauth/tokens.js';

export type SmtpConfig = NonNullable<Config['smtp']>;

export interface OutgoingMessage {
  from: string;
  /** One recipient per message, or the BCC batch (then To is the sender itself). */
  recipients: string[];
  bcc: boolean;
  subject: string;
  text: string;
  headers: Record<string, string>;
  messageId: string;
  /** An HTML alternative of `text` (customer replies). */
  html?: string;
  /** Threading under the mail this one answers (customer replies). */
  inReplyTo?: string;
  references?: string[];
  /** Files (an agent's comment to customers); names already made safe by the caller. */
  attachments?: { filename: string; content: Buffer; contentType: string }[];
}

export interface Mailer {
  /** Resolves with nodemailer's info (accepted / rejected per recipient); rejects with its error. */
  send(m: OutgoingMessage): Promise<unknown>;
  close(): void;
}

/**
 * The login: none, a password, or XOAUTH2 with a token from `tokens` (smtp.auth). nodemailer
 * asks again with renew=true once when the server refuses a token: the cached one is dropped.
 */
export function smtpAuth(smtp: SmtpConfig, password: string | undefined, tokens?: TokenSource): SMTPTransport.Options['auth'] | undefined {
  if (tokens && smtp.user) {
    return {
      type: 'OAuth2',
      user: smtp.user,
      provisionCallback: (_user, renew, callback) => {
        if (renew) tokens.invalidate();
        tokens.get().then(
          // nodemailer keeps the token until `expires` (ms): ask again when ours is due for refresh.
          (token) => callback(null, token, tokens.refreshAt),
          (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
        );
      },
    };
  }
  // Never fall back to an empty password for a server set up for OAuth.
  if (smtp.auth) throw new PermanentError('smtp.auth is set but the mailer got no token source: pass smtpTokenSource(config)');
  return smtp.user ? { user: smtp.user, pass: password ?? '' } : undefined;
}

/** One connection's settings, for the sending pool and the login check alike. */
function transportOptions(smtp: SmtpConfig, auth: SMTPTransport.Options['auth'] | undefined): SMTPTransport.Options {
  return {
    host: smtp.host,
    port: smtp.port,
    // TLS (implicit or STARTTLS) is required off loopback: AUTH never goes out in clear.
    ...smtpTlsOptions(smtpTls(smtp)),
    ...(auth ? { auth } : {}),
    // Short enough that a hung server becomes a retry well inside the job's renewed lock.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  };
}

/** Connect and log in to the SMTP server without sending (for `mailroom mailboxes test --smtp`). */
export async function verifySmtpLogin(smtp: SmtpConfig, password: string | undefined, tokens?: TokenSource): Promise<void> {
  const transport = nodemailer.createTransport(transportOptions(smtp, smtpAuth(smtp, password, tokens)));
  try {
    await transport.verify();
  } finally {
    transport.close();
  }
}

export function createMailer(smtp: SmtpConfig | undefined, password: string | undefined, tokens?: TokenSource): Mailer {
  if (!smtp) throw new PermanentError('no smtp section in the configuration: the notifier cannot send mail');
  // Kept out of every log line, should an SMTP error ever echo it.
  registerSecret(password);
  const transport = nodemailer.createTransport({
    ...transportOptions(smtp, smtpAuth(smtp, password, tokens)),
    // A few connections, reused: a 100-member group is 100 messages, not 100 handshakes.
    pool: true,
    maxConnections: 3,
  });
  const hint = tokens && smtp.auth ? loginRefusedHint(smtp.auth.provider, 'smtp') : undefined;
  return {
    send: (m) =>
      transport
        .sendMail({
        from: m.from,
        ...(m.bcc ? { to: m.from, bcc: m.recipients } : { to: m.recipients }),
        // The envelope names exactly the recipients, whatever the headers say.
        envelope: { from: m.from, to: m.recipients },
        subject: m.subject,
        text: m.text,
        headers: m.headers,
        messageId: m.messageId,
        ...(m.html ? { html: m.html } : {}),
        ...(m.inReplyTo ? { inReplyTo: m.inReplyTo } : {}),
        ...(m.references?.length ? { references: m.references } : {}),
        ...(m.attachments?.length ? { attachments: m.attachments.map((a) => ({ filename: a.filename, content: a.content, contentType: a.contentType, contentDisposition: 'attachment' as const })) } : {}),
      })
        .catch((err: unknown) => {
          // The server refused a token the provider issued: say what to grant.
          const e = err as { code?: string; response?: string; responseCode?: number; message?: string };
          if (hint && e?.code === 'EAUTH' && typeof e.responseCode === 'number') e.response = `${e.response ?? e.message ?? ''} (${hint})`;
          throw err;
        }),
    close: () => transport.close(),
  };
}

/** How the SMTP connection is protected (for the transport and the start log). */
export function smtpTls(smtp: SmtpConfig): TlsDecision {
  return decideTls('SMTP', smtp.host, smtp.port, smtp.tls ?? (smtp.secure ? 'implicit' : undefined), 'starttls');
}
