// Ceilings on NEW accounts (issue #18, finding 4; issue #23, point 4): every account is a seat
// and a foothold, so one mail, one sender and the whole install may each create only so many in
// any hour, however many addresses a mail carries. Counted in Redis sorted sets (member: the
// email, score: when it was counted) over a sliding window, so every resolver process sees the
// same counts and no clock-hour boundary doubles what fits in a few minutes; a re-run of a mail
// counts an email once. Part of the install's ceiling is kept for verified senders: a burst of
// unverified mail cannot make the next genuine new customer wait.
import { key, type Redis } from '../core/redis.js';

/** The window every ceiling counts over. */
export const WINDOW_MS = 3_600_000;

export interface CeilingLimits {
  perSenderPerHour: number;
  perInstallPerHour: number;
  /** What mail from an unverified sender may use of the install's ceiling (the rest is kept for verified senders). */
  perInstallPerHourUnverified?: number;
}

export type CeilingAnswer =
  | { ok: true }
  | { ok: false; which: 'sender' | 'install'; count: number; limit: number; retryAt: number };

// KEYS: sender zset, install zset. ARGV: email, sender limit, install limit (for this mail), now, window ms.
// Entries older than the window are dropped first. An email already counted in the window (a
// re-run) passes; otherwise both sets must have room. A full set answers when its slot frees:
// the score of the entry whose expiry brings the count under the limit, plus the window.
const TAKE = `
local now = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
redis.call('zremrangebyscore', KEYS[1], '-inf', now - window)
redis.call('zremrangebyscore', KEYS[2], '-inf', now - window)
local s = redis.call('zscore', KEYS[1], ARGV[1])
local i = redis.call('zscore', KEYS[2], ARGV[1])
if s and i then return {1, 0} end
local function full(k, limit, which)
  local c = redis.call('zcard', k)
  if c < limit then return nil end
  if limit <= 0 then return {0, which, c, now + window} end
  local e = redis.call('zrange', k, c - limit, c - limit, 'WITHSCORES')
  return {0, which, c, tonumber(e[2]) + window}
end
if not i then
  local f = full(KEYS[2], tonumber(ARGV[3]), 2)
  if f then return f end
end
if not s then
  local f = full(KEYS[1], tonumber(ARGV[2]), 1)
  if f then return f end
end
redis.call('zadd', KEYS[1], 'NX', now, ARGV[1])
redis.call('zadd', KEYS[2], 'NX', now, ARGV[1])
redis.call('pexpire', KEYS[1], window)
redis.call('pexpire', KEYS[2], window)
return {1, 0}
`;

export function installKey(prefix: string): string {
  return key(prefix, 'accounts', 'install-window');
}

function senderKey(prefix: string, sender: string): string {
  return key(prefix, 'accounts', 'sender-window', sender);
}

/** Key set while mail waits at the install ceiling: what status, /readyz and metrics read. */
export function waitingKey(prefix: string): string {
  return key(prefix, 'accounts', 'ceiling-waiting');
}

/** Claim a new account for `email`, asked for by a mail from `sender` (verified or not). */
export async function takeNewAccount(redis: Redis, prefix: string, sender: string, email: string, limits: CeilingLimits & { verified?: boolean }, now = Date.now()): Promise<CeilingAnswer> {
  const installLimit = limits.verified === false ? Math.min(limits.perInstallPerHour, limits.perInstallPerHourUnverified ?? limits.perInstallPerHour) : limits.perInstallPerHour;
  const res = (await redis.eval(TAKE, 2, senderKey(prefix, sender), installKey(prefix), email, String(limits.perSenderPerHour), String(installLimit), String(now), String(WINDOW_MS))) as number[];
  if (res[0] === 1) return { ok: true };
  const which = res[1] === 2 ? 'install' : 'sender';
  return { ok: false, which, count: Number(res[2] ?? 0), limit: which === 'install' ? installLimit : limits.perSenderPerHour, retryAt: Number(res[3] ?? now + WINDOW_MS) };
}

/**
 * An account counted as new turned out to exist (Jira said so on create): give its slot in the
 * install's window back. The per-sender count keeps it: the provision job does not know the
 * sender, and that ceiling only limits one sender's mails.
 */
export async function releaseNewAccount(redis: Redis, prefix: string, email: string): Promise<void> {
  await redis.zrem(installKey(prefix), email);
}

/**
 * Note that mail is waiting at the install ceiling (until an entry leaves the window). True for
 * the first mail of a wait, in any process: the one that says so at warn. Later mails keep the
 * wait's `since` (status shows when it began, not the latest mail).
 */
export async function markWaiting(redis: Redis, prefix: string, detail: { count: number; limit: number; retryAt: number }, now = Date.now()): Promise<boolean> {
  const k = waitingKey(prefix);
  const ttl = Math.max(1000, detail.retryAt - now);
  const fresh = { ...detail, since: new Date(now).toISOString() };
  if ((await redis.set(k, JSON.stringify(fresh), 'PX', ttl, 'NX')) === 'OK') return true;
  let since = fresh.since;
  try {
    since = (JSON.parse((await redis.get(k)) ?? '{}') as { since?: string }).since ?? since;
  } catch {
    // An unreadable marker is rewritten whole.
  }
  await redis.set(k, JSON.stringify({ ...detail, since }), 'PX', ttl);
  return false;
}

export interface CeilingStatus {
  /** New accounts counted in the last hour, install-wide. */
  thisHour: number;
  /** Set while mail waits at the install ceiling. */
  waiting?: { count: number; limit: number; retryAt: number; since: string };
}

/** For `mailroom status`, /readyz and /metrics. */
export async function ceilingStatus(redis: Redis, prefix: string, now = Date.now()): Promise<CeilingStatus> {
  const [count, waiting] = await Promise.all([redis.zcount(installKey(prefix), `(${now - WINDOW_MS}`, '+inf'), redis.get(waitingKey(prefix))]);
  return { thisHour: count, ...(waiting ? { waiting: JSON.parse(waiting) as CeilingStatus['waiting'] } : {}) };
}
