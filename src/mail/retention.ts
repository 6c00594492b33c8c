// Raw mail retention. A mail stays in the store while any job that carries it (mail-inbound,
// jira-deliver; waiting, delayed, active or failed) may still read it, then for
// `store.retention` after it was last needed, so `mailroom reprocess` can run it again. The
// clock is the later of the store's own "last needed" mark (set on put, and refreshed by every
// prune pass for mails still needed) and the finish time of a completed job that carried it.
// The delivery content kept beside a mail (store-companion.ts) is counted and deleted with it.
import type { Job, Queue } from 'bullmq';
import type { Config } from '../config/load.js';
import { ms } from '../config/duration.js';
import { key, type Redis } from '../core/redis.js';
import type { StoreInventory } from './store.js';

export const DEFAULT_STORE_RETENTION = '30d';

export function retentionMs(config: Pick<Config, 'store'>): number {
  return ms(config.store.retention ?? DEFAULT_STORE_RETENTION);
}

/** The queues whose jobs carry a mail's rawRef. */
export const MAIL_QUEUES = ['mail-inbound', 'jira-deliver'] as const;

/** States in which a job may still read its mail (a failed job can be retried). */
const NEEDING_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'waiting-children', 'paused', 'failed'] as const;

/** Jobs read per page: bounded memory however long the failed set has grown. */
const PAGE = 500;

export interface StoreSize {
  mails: number;
  bytes: number;
  /** When this was measured (ISO); a prune pass measures as it walks the store. */
  measuredAt: string;
}

export interface PruneReport extends StoreSize {
  dryRun: boolean;
  retention: string;
  /** Kept because a job still needs them. */
  needed: number;
  /** Kept because they were needed less than `retention` ago. */
  recent: number;
  /** Deleted (or, on a dry run, that would be). */
  pruned: { mails: number; bytes: number };
}

function sizeKey(prefix: string): string {
  return key(prefix, 'store', 'size');
}

function shaOf(job: Job | undefined): string | undefined {
  // Payloads are unknown until parsed: read only the one field, defensively.
  const sha = (job?.data as { record?: { rawRef?: { sha256?: unknown } } } | undefined)?.record?.rawRef?.sha256;
  return typeof sha === 'string' ? sha : undefined;
}

async function eachJob(queue: Queue, states: readonly string[], visit: (job: Job) => void): Promise<void> {
  for (let start = 0; ; start += PAGE) {
    const jobs = await queue.getJobs(states as never, start, start + PAGE - 1, true);
    for (const job of jobs) if (job) visit(job);
    if (jobs.length < PAGE) return;
  }
}

/** Which mails jobs still need, and when completed jobs last used the others. */
export async function mailUse(queues: Queue[]): Promise<{ needed: Set<string>; finishedAt: Map<string, number> }> {
  const needed = new Set<string>();
  const finishedAt = new Map<string, number>();
  for (const q of queues) {
    await eachJob(q, NEEDING_STATES, (job) => {
      const sha = shaOf(job);
      if (sha) needed.add(sha);
    });
    await eachJob(q, ['completed'], (job) => {
      const sha = shaOf(job);
      if (sha && job.finishedOn) finishedAt.set(sha, Math.max(finishedAt.get(sha) ?? 0, job.finishedOn));
    });
  }
  return { needed, finishedAt };
}

export interface PruneDeps {
  store: StoreInventory;
  /** The mail-carrying queues (MAIL_QUEUES), opened on the install's prefix. */
  queues: Queue[];
  redis: Redis;
  prefix: string;
  retention: string;
  dryRun?: boolean;
  now?: number;
}

/** One pass: delete what no job needs and was last needed over `retention` ago; record the size. */
export async function pruneStore(deps: PruneDeps): Promise<PruneReport> {
  const now = deps.now ?? Date.now();
  const keepFor = ms(deps.retention);
  const dryRun = !!deps.dryRun;
  // Jobs first, then the store: a mail stored after this read is younger than `retention` (at
  // least 1h) and so is kept whether or not its job was seen.
  const { needed, finishedAt } = await mailUse(deps.queues);
  const report: PruneReport = { dryRun, retention: deps.retention, needed: 0, recent: 0, pruned: { mails: 0, bytes: 0 }, mails: 0, bytes: 0, measuredAt: new Date(now).toISOString() };
  const stillNeeded: string[] = [];
  for await (const mail of deps.store.list()) {
    if (needed.has(mail.sha256)) {
      report.needed++;
      stillNeeded.push(mail.sha256);
    } else if (now - Math.max(mail.lastNeededAt, finishedAt.get(mail.sha256) ?? 0) < keepFor) {
      report.recent++;
    } else {
      report.pruned.mails++;
      report.pruned.bytes += mail.size;
      if (!dryRun) await deps.store.remove(mail.sha256);
      continue;
    }
    report.mails++;
    report.bytes += mail.size;
  }
  if (!dryRun) {
    await deps.store.touch(stillNeeded, now);
    await recordStoreSize(deps.redis, deps.prefix, report);
  }
  return report;
}

export async function recordStoreSize(redis: Redis, prefix: string, size: StoreSize): Promise<void> {
  await redis.hset(sizeKey(prefix), { mails: size.mails, bytes: size.bytes, measuredAt: size.measuredAt });
}

/** The store's size as last measured, or null before the first prune pass. */
export async function readStoreSize(redis: Redis, prefix: string): Promise<StoreSize | null> {
  const h = await redis.hgetall(sizeKey(prefix));
  if (!h.measuredAt) return null;
  return { mails: Number(h.mails ?? 0), bytes: Number(h.bytes ?? 0), measuredAt: h.measuredAt };
}

/** How often the poller prunes: retention is counted in days, an hour late costs nothing. */
const PRUNE_EVERY_MS = 3_600_000;
/** One pruner per install at a time, however many pollers run; the lock outlives a slow pass. */
const PRUNE_LOCK_MS = 10 * 60_000;

/** The background pruner (run by the poller role): one pass soon after start, then hourly. */
export function startStorePruner(
  deps: Omit<PruneDeps, 'dryRun' | 'now'> & {
    logger: { info(o: object, m: string): void; warn(o: object, m: string): void };
    /** First pass after (default a minute: start-up first), then every (default an hour). */
    firstAfterMs?: number;
    everyMs?: number;
  },
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const pass = async () => {
    const lock = key(deps.prefix, 'store', 'prune-lock');
    if ((await deps.redis.set(lock, String(process.pid), 'PX', PRUNE_LOCK_MS, 'NX')) !== 'OK') return;
    try {
      const r = await pruneStore(deps);
      deps.logger.info({ pruned: r.pruned, mails: r.mails, bytes: r.bytes, retention: r.retention }, 'mail store pruned');
    } finally {
      await deps.redis.del(lock);
    }
  };
  const tick = () => {
    if (running) return;
    running = pass()
      .catch((e: unknown) => deps.logger.warn({ err: (e as Error)?.message }, 'mail store prune failed; next pass in an hour'))
      .finally(() => (running = undefined));
  };
  const first = setTimeout(tick, deps.firstAfterMs ?? 60_000);
  const every = setInterval(tick, deps.everyMs ?? PRUNE_EVERY_MS);
  first.unref();
  every.unref();
  return {
    async stop() {
      clearTimeout(first);
      clearInterval(every);
      await running;
    },
  };
}
