// Where a mailbox's reading stands: the highest UID enqueued for its current UIDVALIDITY.
// Only the lock holder may move it (checked in the same Lua call), and within one UIDVALIDITY
// it only moves forward, so a poller that lost its lock without noticing yet can neither
// rewind nor skip another's progress.
import type { Redis } from '../core/redis.js';
import { imapKeys } from './keys.js';

export interface Cursor {
  uidvalidity: string;
  lastUid: number;
  /**
   * Set when the server gave out UIDs again below the cursor without a new UIDVALIDITY (reader.ts,
   * rewindIfUidsReused): the reading started again from the start, and job ids carry it so a mail
   * at a reused UID is not taken for the one that had it before. '' before any such rewind.
   */
  epoch?: string;
}

// KEYS: cursor, lock. ARGV: token, uidvalidity, uid, epoch.
// Returns 1 when written, 0 when the lock is not ours, -1 when a higher UID was there already.
const ADVANCE = `
if redis.call('get', KEYS[2]) ~= ARGV[1] then return 0 end
local uv = redis.call('hget', KEYS[1], 'uidvalidity')
local ep = redis.call('hget', KEYS[1], 'epoch') or ''
local last = tonumber(redis.call('hget', KEYS[1], 'lastUid') or '0')
if uv == ARGV[2] and ep == ARGV[4] and last >= tonumber(ARGV[3]) then return -1 end
redis.call('hset', KEYS[1], 'uidvalidity', ARGV[2], 'lastUid', ARGV[3], 'epoch', ARGV[4])
return 1`;

export async function readCursor(redis: Redis, prefix: string, mailboxId: string): Promise<Cursor | undefined> {
  const h = await redis.hgetall(imapKeys.cursor(prefix, mailboxId));
  if (!h.uidvalidity) return undefined;
  return { uidvalidity: h.uidvalidity, lastUid: Number(h.lastUid ?? 0), ...(h.epoch ? { epoch: h.epoch } : {}) };
}

/**
 * Record that every UID up to `uid` (for `uidvalidity`) is enqueued. A different UIDVALIDITY
 * replaces the old cursor: the mailbox was rebuilt and is read again from its start.
 * Returns false when the lock is no longer ours.
 */
export async function advanceCursor(
  redis: Redis,
  prefix: string,
  mailboxId: string,
  token: string,
  uidvalidity: string,
  uid: number,
  epoch = '',
): Promise<boolean> {
  const r = (await redis.eval(
    ADVANCE,
    2,
    imapKeys.cursor(prefix, mailboxId),
    imapKeys.lock(prefix, mailboxId),
    token,
    uidvalidity,
    String(uid),
    epoch,
  )) as number;
  return r !== 0;
}

/** The UID to read after, given the stored cursor and the mailbox's UIDVALIDITY now. */
export function startAfter(cursor: Cursor | undefined, uidvalidity: string): number {
  return cursor && cursor.uidvalidity === uidvalidity ? cursor.lastUid : 0;
}
