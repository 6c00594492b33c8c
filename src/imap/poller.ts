// The poller's readers: one per mailbox that has IMAP settings (each takes the mailbox's lock
// or stands by). The poller role (role.ts) runs them beside the mailbox-actions station
// (actions.ts); workers/poller.ts starts the role.
import type { Config } from '../config/load.js';
import { ms } from '../config/duration.js';
import { registerSecret, withRole, type Logger } from '../core/log.js';
import { ownMailOptions } from '../mail/loop.js';
import { createParsePool } from '../mail/parse-pool.js';
import type { MailStore } from '../mail/store.js';
import type { Redis } from '../core/redis.js';
import { mailInbound } from '../queues/catalog.js';
import { openQueue } from '../queues/queue.js';
import { inMemoryLimit } from './ingest.js';
import { imapTls, type ImapSettings } from './connect.js';
import { MailboxReader, type ReaderSettings } from './reader.js';
import { imapTokenSource } from '../oauth/tokens.js';
import { loadSecretKey, type SecretKey } from '../token/key.js';
import { describeError } from '../core/errors.js';
import { credentialFingerprint } from './parking.js';

export interface PollerDeps {
  config: Config;
  /** Short commands: lock, cursor, heartbeat, and the mail-inbound queue. */
  redis: Redis;
  store: MailStore;
  logger: Logger;
  /** Overrides for tests and benchmarks (heartbeat interval, in-memory size). */
  settings?: Partial<ReaderSettings>;
  onEnqueued?: (mailboxId: string, e: { uid: number; jobId: string; internalDate?: Date }) => void;
  /** Parse in worker threads (default), or on this event loop (false: tests of the inline path). */
  parseThreads?: boolean;
}

export interface Poller {
  readers: MailboxReader[];
  /** Graceful: stop fetching, finish the mail in hand, LOGOUT, release locks, close. */
  stop(): Promise<void>;
}

export function readerSettings(config: Config, resyncInterval: string): ReaderSettings {
  const p = config.poller;
  return {
    lockTtlMs: ms(p.lockTtl),
    reconnectMinMs: ms(p.reconnectMin),
    reconnectMaxMs: ms(p.reconnectMax),
    authFailuresToPark: p.authFailuresToPark,
    parkedRetryMs: ms(p.parkedRetry),
    pollIntervalMs: ms(p.pollInterval),
    resyncIntervalMs: ms(resyncInterval),
  };
}

export function startPoller(deps: PollerDeps): Poller {
  const { config, logger } = deps;
  const log = withRole(logger, 'poller');
  const queue = openQueue(mailInbound, { connection: deps.redis, prefix: config.prefix });
  const readers: MailboxReader[] = [];
  // One pool for every mailbox of this process: parsing a big or hostile mail must not stall
  // the event loop that renews mailbox locks and keeps IMAP connections alive.
  // Its threads start with the first mail and stop when idle: a poller waiting for mail holds no parser.
  // Answers to this install's notifications are its own mail; answers to another's are work.
  const own = ownMailOptions(config.smtp);
  const pool =
    deps.parseThreads !== false && config.mailboxes.some((m) => m.imap)
      ? createParsePool({
          parse: { maxParseBytes: inMemoryLimit({ maxMessageBytes: Infinity, inMemoryMaxBytes: deps.settings?.inMemoryMaxBytes }), ...own },
          onThreadsUnavailable: (why) => log.warn({ why }, 'parser threads unavailable: parsing on the main thread'),
        })
      : undefined;
  const key = config.mailboxes.some((m) => m.imap) ? fingerprintKey(config, log) : undefined;
  for (const mailbox of config.mailboxes) {
    if (!mailbox.imap) continue;
    const tokens = imapTokenSource(config, mailbox.id, { logger: log, redis: deps.redis });
    const password = tokens ? '' : config.secrets.imapPasswords[mailbox.id];
    if (password === undefined) {
      // The config loader refuses to start without it; reaching here means a config built in code.
      log.error({ mailbox: mailbox.id }, 'no IMAP password for this mailbox: not reading it');
      continue;
    }
    // Belt and braces: should a password ever reach a log line, it is scrubbed.
    registerSecret(password);
    const tls = imapTls(mailbox.imap);
    if (tls.warning) log.warn({ mailbox: mailbox.id }, tls.warning);
    else log.info({ mailbox: mailbox.id }, tls.summary);
    const reader = new MailboxReader({
      mailbox: mailbox as typeof mailbox & { imap: ImapSettings },
      password,
      ...(tokens ? { tokens } : {}),
      ...(key ? { credential: credentialFingerprint(key, config, mailbox) } : {}),
      redis: deps.redis,
      prefix: config.prefix,
      queue,
      store: deps.store,
      logger: log,
      retry: config.queues,
      settings: { ...readerSettings(config, mailbox.resyncInterval), ...deps.settings },
      ...(pool ? { pool } : {}),
      ...own,
      onEnqueued: deps.onEnqueued ? (e) => deps.onEnqueued!(mailbox.id, e) : undefined,
    });
    readers.push(reader);
    reader.start();
  }
  if (readers.length === 0) log.warn('no mailbox has imap settings: the poller reads nothing (mail comes in with `mailroom ingest`)');

  return {
    readers,
    async stop() {
      await Promise.all(readers.map((r) => r.stop()));
      await pool?.close();
      await queue.close();
    },
  };
}

/**
 * The install's secret key, to fingerprint each mailbox's login credential (so that a poller
 * started with a fixed password tries a parked mailbox at once). Without one, a parked mailbox
 * waits for its next attempt or `mailroom mailboxes retry`, whatever the configured password.
 */
function fingerprintKey(config: Config, log: Logger): SecretKey | undefined {
  if (!config.secretKey.base64 && !config.secretKey.file) return undefined;
  try {
    return loadSecretKey(config.secretKey);
  } catch (e) {
    log.warn(
      { err: describeError(e) },
      'cannot use the secret key: a parked mailbox is not tried at once after its password is changed (run `mailroom mailboxes retry ID`)',
    );
    return undefined;
  }
}
