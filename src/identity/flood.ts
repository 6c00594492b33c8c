// Per-sender flood limit: how many distinct mails a sender sent in the current clock hour.
// Mails are counted by job id in a set, so a mail re-run after a crash is not counted twice.
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';

const HOUR = 3_600_000;

export async function countMail(redis: Redis, prefix: string, sender: string, mailJobId: string, now = Date.now()): Promise<number> {
  const bucket = Math.floor(now / HOUR);
  const k = key(prefix, 'flood', sender.trim().toLowerCase(), String(bucket));
  const res = await redis.multi().sadd(k, mailJobId).scard(k).pexpire(k, 2 * HOUR).exec();
  return Number(res?.[1]?.[1] ?? 0);
}
