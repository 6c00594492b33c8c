// Transport security for the two mail connections that carry a password (IMAP, SMTP). To any
// host but loopback, TLS is required: implicit (993/465) or STARTTLS, and a server that does not
// offer STARTTLS is refused before credentials are sent. Plain text needs `tls: none` in the
// config, said in words at start. Pure: the connect code spreads the options it returns.
import { isIP } from 'node:net';

export type TlsMode = 'implicit' | 'starttls' | 'none';
export const TLS_MODES = ['implicit', 'starttls', 'none'] as const;

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost']);

/** 127.0.0.0/8, ::1 and localhost: the only hosts plain text is acceptable to without saying so. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (LOOPBACK_NAMES.has(h)) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

export interface TlsDecision {
  /** What is configured (after the old booleans are read). */
  mode: TlsMode;
  /** STARTTLS only if offered, else plain: loopback without an explicit mode. */
  opportunistic: boolean;
  /** One line for the start log. */
  summary: string;
  /** Set when credentials may travel in clear to a non-loopback host. */
  warning?: string;
}

/**
 * `tls` as configured: a mode, or the older boolean (`true` implicit; `false` STARTTLS, which
 * on loopback is taken as "STARTTLS if offered" so local test servers keep working).
 */
export function decideTls(what: 'IMAP' | 'SMTP', host: string, port: number, tls: TlsMode | boolean | undefined, fallback: TlsMode): TlsDecision {
  const loopback = isLoopback(host);
  const explicit = typeof tls === 'string';
  const mode: TlsMode = tls === true ? 'implicit' : tls === false ? 'starttls' : (tls ?? fallback);
  const opportunistic = !explicit && mode === 'starttls' && loopback;
  const where = `${what} ${host}:${port}`;
  if (mode === 'implicit') return { mode, opportunistic, summary: `${where}: TLS from the first byte` };
  if (mode === 'starttls') {
    return opportunistic
      ? { mode, opportunistic, summary: `${where}: loopback, STARTTLS when offered, else plain text` }
      : { mode, opportunistic, summary: `${where}: STARTTLS required (refused before login if the server does not offer it)` };
  }
  return loopback
    ? { mode, opportunistic, summary: `${where}: plain text (tls: none, loopback)` }
    : { mode, opportunistic, summary: `${where}: plain text (tls: none)`, warning: `${where} is configured with tls: none: the password and mail travel in clear over the network` };
}

/** nodemailer transport options for a decision. */
export function smtpTlsOptions(d: TlsDecision): { secure: boolean; requireTLS?: boolean; ignoreTLS?: boolean } {
  if (d.mode === 'implicit') return { secure: true };
  if (d.mode === 'none') return { secure: false, ignoreTLS: true };
  return d.opportunistic ? { secure: false } : { secure: false, requireTLS: true };
}

/** imapflow client options for a decision. */
export function imapTlsOptions(d: TlsDecision): { secure: boolean; doSTARTTLS?: boolean } {
  if (d.mode === 'implicit') return { secure: true };
  if (d.mode === 'none') return { secure: false, doSTARTTLS: false };
  // Loopback test servers without STARTTLS: plain, as before (no upgrade attempt to fail).
  return d.opportunistic ? { secure: false, doSTARTTLS: false } : { secure: false, doSTARTTLS: true };
}
