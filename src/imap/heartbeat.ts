// A heartbeat per mailbox in Redis, written by the poller that holds the mailbox's lock:
// what it is doing, when it last finished a sync, the last error in words, and how far behind
// it is. Read by /readyz, metrics and `mailroom mailboxes`. A heartbeat not refreshed for a
// while means no poller serves the mailbox (they refresh every few seconds while alive).
import type { Redis } from '../core/redis.js';
import { imapKeys } from './keys.js';

export const mailboxStates = ['connecting', 'syncing', 'idle', 'backoff', 'parked', 'stopped'] as const;
export type MailboxState = (typeof mailboxStates)[number];

export interface Heartbeat {
  mailboxId: string;
  state: MailboxState;
  /** host:pid of the poller holding the mailbox. */
  owner?: string;
  /** ISO time of the last sync that read the mailbox to its end. */
  lastSyncAt?: string;
  lastError?: string;
  lastErrorAt?: string;
  /** When a mailbox in backoff or parked tries again (ISO). */
  nextAttemptAt?: string;
  /** For the last mail enqueued: milliseconds from its arrival in the mailbox to its job. */
  lagMs?: number;
  /** Mails seen on the server and not yet enqueued, as of the last sync step. */
  pending?: number;
  uidvalidity?: string;
  lastUid?: number;
  /** Whether the server offered IDLE (false: the poller polls every poller.pollInterval). */
  idleSupported?: boolean;
  /** ISO time of this heartbeat. */
  updatedAt: string;
}

export interface HeartbeatView extends Heartbeat {
  /** True when the heartbeat was not refreshed within staleAfterMs: no poller serves it. */
  stale: boolean;
}

/** Heartbeats are refreshed this often while a poller holds the mailbox. */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Three missed refreshes: the poller is gone or stuck. */
export const DEFAULT_STALE_AFTER_MS = 3 * HEARTBEAT_INTERVAL_MS;

export async function writeHeartbeat(redis: Redis, prefix: string, hb: Partial<Heartbeat> & { mailboxId: string }): Promise<void> {
  const fields: Record<string, string> = { updatedAt: new Date().toISOString() };
  const clear: string[] = [];
  for (const [k, v] of Object.entries(hb)) {
    if (v === undefined) continue;
    if (v === null || v === '') clear.push(k);
    else fields[k] = String(v);
  }
  const m = redis.multi().hset(imapKeys.heartbeat(prefix, hb.mailboxId), fields).sadd(imapKeys.mailboxes(prefix), hb.mailboxId);
  if (clear.length) m.hdel(imapKeys.heartbeat(prefix, hb.mailboxId), ...clear);
  await m.exec();
}

/**
 * Every mailbox's heartbeat. With `mailboxIds` (the configured mailboxes), a mailbox that never
 * wrote one is listed too, as stale and `connecting`, so a mailbox no poller serves shows up.
 */
export async function readHeartbeats(
  redis: Redis,
  prefix: string,
  opts: { mailboxIds?: string[]; staleAfterMs?: number; now?: number } = {},
): Promise<HeartbeatView[]> {
  const known = await redis.smembers(imapKeys.mailboxes(prefix));
  const ids = [...new Set([...(opts.mailboxIds ?? []), ...(opts.mailboxIds ? [] : known)])].sort();
  const now = opts.now ?? Date.now();
  const staleAfter = opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hgetall(imapKeys.heartbeat(prefix, id));
  const results = (await pipe.exec()) ?? [];
  return ids.map((id, i) => {
    const h = (results[i]?.[1] ?? {}) as Record<string, string>;
    return toView(id, h, now, staleAfter);
  });
}

function num(v: string | undefined): number | undefined {
  return v === undefined || v === '' ? undefined : Number(v);
}

function toView(mailboxId: string, h: Record<string, string>, now: number, staleAfterMs: number): HeartbeatView {
  const updatedAt = h.updatedAt;
  const state = (mailboxStates as readonly string[]).includes(h.state ?? '') ? (h.state as MailboxState) : 'connecting';
  // A stopped poller said goodbye on purpose; still, nobody serves the mailbox now.
  const stale = !updatedAt || now - Date.parse(updatedAt) > staleAfterMs || state === 'stopped';
  return {
    mailboxId,
    state,
    owner: h.owner,
    lastSyncAt: h.lastSyncAt,
    lastError: h.lastError,
    lastErrorAt: h.lastErrorAt,
    nextAttemptAt: h.nextAttemptAt,
    lagMs: num(h.lagMs),
    pending: num(h.pending),
    uidvalidity: h.uidvalidity,
    lastUid: num(h.lastUid),
    idleSupported: h.idleSupported === undefined ? undefined : h.idleSupported === 'true',
    updatedAt: updatedAt ?? '',
    stale,
  };
}

/**
 * Ask the poller that holds a mailbox to end its backoff or parking and try again now. It reads
 * the request at its next heartbeat (a poller that takes the lock later, when it finds the
 * mailbox parked); the key expires if no poller takes it.
 */
export async function requestWake(redis: Redis, prefix: string, mailboxId: string): Promise<void> {
  await redis.set(imapKeys.wake(prefix, mailboxId), new Date().toISOString(), 'PX', WAKE_REQUEST_TTL_MS);
}

const TAKE_WAKE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[2]) else return 0 end`;

/**
 * Take a wake request for this mailbox, if there is one and `lockToken` holds the mailbox's lock
 * (DEL: only one reader takes it). A reader that lost its lock and has not noticed yet must not
 * take a request meant for the new holder.
 */
export async function takeWake(redis: Redis, prefix: string, mailboxId: string, lockToken: string): Promise<boolean> {
  const r = (await redis.eval(TAKE_WAKE, 2, imapKeys.lock(prefix, mailboxId), imapKeys.wake(prefix, mailboxId), lockToken)) as number;
  return r > 0;
}

/** A wake request outlives a few missed heartbeats, not an outage: stale requests do not linger. */
const WAKE_REQUEST_TTL_MS = 10 * 60_000;
