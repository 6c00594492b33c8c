// Mails waiting for their people. A mail whose sender is being provisioned registers its job
// id under the email and parks itself in the delayed set with a fallback re-check time; the
// provisioner, once the account is ready (or provisioning failed for good), promotes those
// jobs so they continue at once. Nothing is lost if a process dies in between: the job sits
// in delayed and re-checks on its own when the fallback time comes.
import type { Job } from 'bullmq';
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';

export function waitersKey(prefix: string, site: string, email: string): string {
  return key(prefix, 'waiters', site, email.trim().toLowerCase());
}

// Two days: longer than any provision job keeps retrying (about 2.4 h by default).
const WAITERS_TTL_MS = 2 * 24 * 3600 * 1000;

export async function registerWaiter(redis: Redis, prefix: string, site: string, email: string, mailJobId: string): Promise<void> {
  const k = waitersKey(prefix, site, email);
  await redis.multi().sadd(k, mailJobId).pexpire(k, WAITERS_TTL_MS).exec();
}

/** Promote every mail job waiting on `email` (found by `mailJob`); returns how many were promoted. */
export async function releaseWaiters(redis: Redis, prefix: string, site: string, email: string, mailJob: (id: string) => Promise<Job | undefined>): Promise<number> {
  const k = waitersKey(prefix, site, email);
  // Read and clear in one step: a waiter registering after this re-checks by itself.
  const res = await redis.multi().smembers(k).del(k).exec();
  const ids = (res?.[0]?.[1] as string[] | undefined) ?? [];
  let promoted = 0;
  await Promise.all(
    ids.map(async (id) => {
      const job = await mailJob(id);
      if (!job) return;
      if (await promoteIfDelayed(job)) promoted++;
      // Still running: it may be just about to park itself (its re-check ran before the account
      // was ready). Try again shortly, in the background, rather than leave it to the fallback.
      else if ((await job.getState()) === 'active') void promoteSoon(job);
    }),
  );
  return promoted;
}

async function promoteIfDelayed(job: Job): Promise<boolean> {
  try {
    await job.promote();
    return true;
  } catch {
    return false; // not delayed (yet, or any more)
  }
}

// 25 ms doubling to 800 ms: a resolver parks its job within milliseconds of its last check.
async function promoteSoon(job: Job): Promise<void> {
  try {
    for (let wait = 25; wait <= 800; wait *= 2) {
      await new Promise((r) => setTimeout(r, wait));
      const state = await job.getState();
      if (state === 'delayed') {
        await promoteIfDelayed(job);
        return;
      }
      if (state !== 'active') return;
    }
  } catch {
    // best effort: the fallback re-check picks the mail up anyway
  }
}

/** Fallback re-check delay for a waiting mail: 2 s doubling to 1 min (promotion is the fast path). */
export function recheckDelay(passes: number): number {
  return Math.min(60_000, 2_000 * 2 ** Math.min(passes, 10));
}
