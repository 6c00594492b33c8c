// The SMTP side: a nodemailer transport from config.smtp, and sending one prepared message.
import nodemailer from 'nodemailer';
import type { Config } from '../config/load.js';
import { decideTls, smtpTlsOptions, type TlsDecision } from '../config/tls.js';
import { PermanentError } from '../errors.js';
import { registerSecret } from '../log.js';

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
}

export interface Mailer {
  /** Resolves with nodemailer's info (accepted / rejected per recipient); rejects with its error. */
  send(m: OutgoingMessage): Promise<unknown>;
  close(): void;
}

export function createMailer(smtp: SmtpConfig | undefined, password: string | undefined): Mailer {
  if (!smtp) throw new PermanentError('no smtp section in the configuration: the notifier cannot send mail');
  // Kept out of every log line, should an SMTP error ever echo it.
  registerSecret(password);
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    // TLS (implicit or STARTTLS) is required off loopback: AUTH never goes out in clear.
    ...smtpTlsOptions(smtpTls(smtp)),
    ...(smtp.user ? { auth: { user: smtp.user, pass: password ?? '' } } : {}),
    // A few connections, reused: a 100-member group is 100 messages, not 100 handshakes.
    pool: true,
    maxConnections: 3,
    // Short enough that a hung server becomes a retry well inside the job's renewed lock.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    send: (m) =>
      transport.sendMail({
        from: m.from,
        ...(m.bcc ? { to: m.from, bcc: m.recipients } : { to: m.recipients }),
        // The envelope names exactly the recipients, whatever the headers say.
        envelope: { from: m.from, to: m.recipients },
        subject: m.subject,
        text: m.text,
        headers: m.headers,
        messageId: m.messageId,
      }),
    close: () => transport.close(),
  };
}

/** How the SMTP connection is protected (for the transport and the start log). */
export function smtpTls(smtp: SmtpConfig): TlsDecision {
  return decideTls('SMTP', smtp.host, smtp.port, smtp.tls ?? (smtp.secure ? 'implicit' : undefined), 'starttls');
}
