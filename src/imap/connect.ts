// An imapflow client for one configured mailbox. The password comes from config.secrets (read
// from the environment once at start) and is never logged: imapflow's own log lines go through
// pino, whose redaction and secret scrubbing apply, and only at warn and above unless the
// process runs at debug.
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { MailboxConfig } from '../config/schema.js';
import { decideTls, imapTlsOptions, type TlsDecision } from '../config/tls.js';
import type { Logger } from '../core/log.js';

export type ImapSettings = NonNullable<MailboxConfig['imap']>;

/** A password, or an OAuth access token (imapflow then uses OAUTHBEARER or XOAUTH2, whichever the server offers). */
export type ImapSecret = string | { accessToken: string };

export function imapAuth(user: string, secret: ImapSecret): ImapFlowOptions['auth'] {
  return typeof secret === 'string' ? { user, pass: secret } : { user, accessToken: secret.accessToken };
}

export function imapClient(
  imap: ImapSettings,
  password: ImapSecret,
  logger: Logger,
  opts: { maxIdleTimeMs?: number } = {},
): ImapFlow {
  const options: ImapFlowOptions = {
    host: imap.host,
    port: imap.port,
    // TLS (implicit or STARTTLS) is required off loopback: the login never goes out in clear.
    ...imapTlsOptions(imapTls(imap)),
    auth: imapAuth(imap.user, password),
    // We IDLE ourselves, right after each fetch: imapflow's auto-IDLE waits 15 s of silence.
    disableAutoIdle: true,
    // Restart IDLE every few minutes: some servers and NAT boxes drop long-silent sessions.
    maxIdleTime: opts.maxIdleTimeMs ?? 4 * 60_000,
    // Fail a connect to a black-holed host in reasonable time; the reader backs off and retries.
    connectionTimeout: 30_000,
    greetingTimeout: 15_000,
    logger: imapLogger(logger),
    clientInfo: { name: 'mailroom' },
  };
  return new ImapFlow(options);
}

/** How the IMAP connection is protected (for the client and the start log). */
export function imapTls(imap: ImapSettings): TlsDecision {
  return decideTls('IMAP', imap.host, imap.port, imap.tls, 'implicit');
}

type LogFn = (obj: unknown) => void;

/**
 * imapflow logs objects per level. Its info/debug lines are protocol chatter, and its warnings
 * and errors are about failures the reader reports itself, classified and in words (see
 * failure.ts): all of it goes to debug, for when the process runs at debug. Its trace lines are
 * FETCH responses, whole mails: never logged. `isLevelEnabled` says so, because imapflow asks
 * it before it serializes a command or a response again for the log: without it (and with the
 * level methods present) imapflow took debug as on and compiled every command and every
 * response but FETCH's into a string that went nowhere.
 */
export function imapLogger(logger: Logger): { debug: LogFn; info: LogFn; warn: LogFn; error: LogFn; isLevelEnabled(level: string): boolean } {
  if (!logger.isLevelEnabled('debug')) {
    const quiet: LogFn = () => undefined;
    return { debug: quiet, info: quiet, warn: quiet, error: quiet, isLevelEnabled: () => false };
  }
  const log: LogFn = (obj) => {
    const o = (obj ?? {}) as Record<string, unknown>;
    const err = o.err as { message?: unknown } | undefined;
    const text = typeof o.msg === 'string' ? o.msg : typeof err?.message === 'string' ? err.message : 'imap';
    logger.debug({ imap: { cid: o.cid, src: o.src } }, text);
  };
  return { debug: log, info: log, warn: log, error: log, isLevelEnabled: (level) => level !== 'trace' };
}
