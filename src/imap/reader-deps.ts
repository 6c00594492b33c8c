// What a mailbox reader (reader.ts) is given: its mailbox, credentials, connections, the
// queue it feeds, the store and parse pool, and its timings.
import type { Queue } from 'bullmq';
import type { MailboxConfig, RetryConfig } from '../config/schema.js';
import type { Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import type { ParsePool } from '../mail/parse-pool.js';
import type { MailStore } from '../mail/store.js';
import type { TokenSource } from '../oauth/tokens.js';
import type { ImapSettings } from './connect.js';
import type { IngestOptions } from './ingest.js';

export interface ReaderSettings {
  lockTtlMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  authFailuresToPark: number;
  parkedRetryMs: number;
  /** Servers without IDLE are polled this often. */
  pollIntervalMs: number;
  /** Look for new mail this often whatever IDLE says. */
  resyncIntervalMs: number;
  heartbeatIntervalMs?: number;
  /** Mails up to this size are read into memory whole (default: the parser's input limit). */
  inMemoryMaxBytes?: number;
}

export interface ReaderDeps {
  mailbox: MailboxConfig & { imap: ImapSettings };
  /** The IMAP password; unused when `tokens` is set. */
  password: string;
  /** OAuth: a fresh access token per login (imap.auth). */
  tokens?: TokenSource;
  /**
   * A keyed fingerprint of the login's credential (parking.ts credentialFingerprint), when the
   * install has a secret key: a mailbox parked for another credential is tried at once.
   */
  credential?: string;
  /** For the lock, cursor and heartbeat (short commands). */
  redis: Redis;
  prefix: string;
  /** The mail-inbound queue. */
  queue: Queue;
  store: MailStore;
  logger: Logger;
  retry?: Partial<Record<string, RetryConfig>>;
  settings: ReaderSettings;
  /** Parse off this event loop (it renews the lock and keeps IMAP alive). */
  pool?: ParsePool;
  /** This install's notification id domains (ownNotificationDomains), for mail parsed without the pool. */
  notificationDomains?: readonly string[];
  /** Called after each mail is enqueued (for benchmarks and tests; keep it cheap). */
  onEnqueued?: (e: { uid: number; jobId: string; internalDate?: Date }) => void;
}

/**
 * After mail came in, the reader looks again every BURST_POLL_MS (a NOOP: one small IMAP
 * command) instead of IDLE, until none came for BURST_QUIET_MS. 100 ms keeps a burst's mail from
 * waiting on IDLE news (~500 ms late on Dovecot) at ten commands a second, only while mail arrives.
 */
export const BURST_POLL_MS = 100;
export const BURST_QUIET_MS = 2_000;

/** How the reader's mails go into the store and the queue, for one UIDVALIDITY. */
export function ingestOptionsOf(deps: ReaderDeps, uidvalidity: string, epoch = ''): IngestOptions {
  return {
    mailboxId: deps.mailbox.id,
    uidvalidity,
    epoch,
    store: deps.store,
    queue: deps.queue,
    retry: deps.retry,
    maxMessageBytes: deps.mailbox.maxMessageBytes,
    inMemoryMaxBytes: deps.settings.inMemoryMaxBytes,
    ...(deps.pool ? { pool: deps.pool } : {}),
    ...(deps.notificationDomains ? { notificationDomains: deps.notificationDomains } : {}),
  };
}
