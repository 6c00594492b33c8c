// Per-sender flood limit: how many distinct mails a sender sent in the last hour (a sliding
// window, so no clock-hour boundary doubles it). Mails are members of a sorted set scored by when
// they were first counted: a mail re-run after a crash keeps its first time and counts once.
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';

const WINDOW_MS = 3_600_000;

export async function countMail(redis: Redis, prefix: string, sender: string, mailJobId: string, now = Date.now()): Promise<number> {
  const k = key(prefix, 'flood-window', sender.trim().toLowerCase());
  const res = await redis
    .multi()
    .zremrangebyscore(k, '-inf', now - WINDOW_MS)
    .zadd(k, 'NX', now, mailJobId)
    .zcard(k)
    .pexpire(k, WINDOW_MS)
    .exec();
  return Number(res?.[2]?.[1] ?? 0);
}
