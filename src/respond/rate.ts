// At most N mails to one address per sliding hour, across every process: a sorted set per
// address, scored by send time, members the job ids (a retry of the same job is not counted
// twice). Taken before sending; a mail over the ceiling is skipped, not delayed: an
// acknowledgement an hour late helps nobody, and a loop must stop, not queue up.
import { key, type Redis } from '../core/redis.js';

export const WINDOW_MS = 3600_000;

/** One inbox, one ceiling: `v+1@x` and `v+2@x` reach the same person. */
export function rateKey(prefix: string, address: string): string {
  return key(prefix, 'respond', 'rate', inboxOf(address));
}

/** The inbox an address reaches: lower case, without a `+tag`. */
export function inboxOf(address: string): string {
  const a = address.toLowerCase();
  const at = a.lastIndexOf('@');
  const local = at > 0 ? a.slice(0, at).replace(/\+.*$/, '') : a;
  return at > 0 ? `${local}${a.slice(at)}` : a;
}

// KEYS[1] = the address's set; ARGV = now, window, max, member. Returns 1 when taken, 0 when full.
const TAKE = `
redis.call('zremrangebyscore', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('zscore', KEYS[1], ARGV[4]) then return 1 end
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('zadd', KEYS[1], ARGV[1], ARGV[4])
redis.call('pexpire', KEYS[1], ARGV[2])
return 1`;

/** Takes one of the address's sends for this hour; false when the ceiling is reached. */
export async function takeSend(redis: Redis, prefix: string, address: string, max: number, member: string, now = Date.now()): Promise<boolean> {
  const r = await redis.eval(TAKE, 1, rateKey(prefix, address), String(now), String(WINDOW_MS), String(max), member);
  return Number(r) === 1;
}
