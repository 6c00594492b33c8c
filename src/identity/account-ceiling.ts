// Ceilings on NEW accounts (issue #18, finding 4): every account is a seat and a foothold, so
// one mail, one sender and the whole install may each create only so many per hour, however
// many addresses a mail carries. Counted in Redis (sets of emails per clock hour), so every
// resolver process sees the same counts; a re-run of a mail counts an email once.
import { key, type Redis } from '../core/redis.js';

const HOUR = 3_600_000;

export interface CeilingLimits {
  perSenderPerHour: number;
  perInstallPerHour: number;
}

export type CeilingAnswer =
  | { ok: true }
  | { ok: false; which: 'sender' | 'install'; count: number; limit: number; retryAt: number };

// KEYS: sender set, install set. ARGV: email, sender limit, install limit, ttl ms.
// An email already counted this hour (a re-run) passes; otherwise both sets must have room.
const TAKE = `
local s = redis.call('sismember', KEYS[1], ARGV[1])
local i = redis.call('sismember', KEYS[2], ARGV[1])
if s == 1 and i == 1 then return {1, 0} end
local ic = redis.call('scard', KEYS[2])
if i == 0 and ic >= tonumber(ARGV[3]) then return {0, 2, ic} end
local sc = redis.call('scard', KEYS[1])
if s == 0 and sc >= tonumber(ARGV[2]) then return {0, 1, sc} end
redis.call('sadd', KEYS[1], ARGV[1])
redis.call('sadd', KEYS[2], ARGV[1])
redis.call('pexpire', KEYS[1], ARGV[4])
redis.call('pexpire', KEYS[2], ARGV[4])
return {1, 0}
`;

function bucket(now: number): number {
  return Math.floor(now / HOUR);
}

export function installKey(prefix: string, now = Date.now()): string {
  return key(prefix, 'accounts', 'install', String(bucket(now)));
}

/** Key set while mail waits at the install ceiling: what status, /readyz and metrics read. */
export function waitingKey(prefix: string): string {
  return key(prefix, 'accounts', 'ceiling-waiting');
}

/** Claim a new account for `email`, asked for by a mail from `sender`. */
export async function takeNewAccount(redis: Redis, prefix: string, sender: string, email: string, limits: CeilingLimits, now = Date.now()): Promise<CeilingAnswer> {
  const b = String(bucket(now));
  const res = (await redis.eval(TAKE, 2, key(prefix, 'accounts', 'sender', sender, b), key(prefix, 'accounts', 'install', b), email, String(limits.perSenderPerHour), String(limits.perInstallPerHour), String(2 * HOUR))) as number[];
  if (res[0] === 1) return { ok: true };
  const which = res[1] === 2 ? 'install' : 'sender';
  return { ok: false, which, count: Number(res[2] ?? 0), limit: which === 'install' ? limits.perInstallPerHour : limits.perSenderPerHour, retryAt: (bucket(now) + 1) * HOUR };
}

/**
 * An account counted as new turned out to exist (Jira said so on create): give its slot in the
 * install's count back, this hour's and the last (the hour may have turned since it was taken).
 * The per-sender count keeps it: the provision job does not know the sender, and that ceiling
 * only limits one sender's mails.
 */
export async function releaseNewAccount(redis: Redis, prefix: string, email: string, now = Date.now()): Promise<void> {
  await redis.multi().srem(installKey(prefix, now), email).srem(installKey(prefix, now - HOUR), email).exec();
}

/** Note that mail is waiting at the install ceiling (until the hour turns). */
export async function markWaiting(redis: Redis, prefix: string, detail: { count: number; limit: number; retryAt: number }, now = Date.now()): Promise<void> {
  await redis.set(waitingKey(prefix), JSON.stringify({ ...detail, since: new Date(now).toISOString() }), 'PX', Math.max(1000, detail.retryAt - now));
}

export interface CeilingStatus {
  /** New accounts counted this hour, install-wide. */
  thisHour: number;
  /** Set while mail waits at the install ceiling. */
  waiting?: { count: number; limit: number; retryAt: number; since: string };
}

/** For `mailroom status`, /readyz and /metrics. */
export async function ceilingStatus(redis: Redis, prefix: string, now = Date.now()): Promise<CeilingStatus> {
  const [count, waiting] = await Promise.all([redis.scard(installKey(prefix, now)), redis.get(waitingKey(prefix))]);
  return { thisHour: count, ...(waiting ? { waiting: JSON.parse(waiting) as CeilingStatus['waiting'] } : {}) };
}
