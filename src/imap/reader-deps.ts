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
  /** Called after each mail is enqueued (for benchmarks and tests; keep it cheap). */
  onEnqueued?: (e: { uid: number; jobId: string; internalDate?: Date }) => void;
}
