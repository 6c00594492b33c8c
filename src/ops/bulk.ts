// Bulk retry/remove over a snapshot of job references. Each job is handled on its own and
// idempotently (see retryFailedJob/removeFailedJob), so a run that is interrupted — Ctrl-C,
// a lost connection — can be run again and continues: what was done is no longer failed and
// is skipped, what was not done is still there.
import type { OpsQueues } from './queue-status.js';
import { removeFailedJob, retryFailedJob } from './queue-status.js';

export type BulkAction = 'retry' | 'remove';
export type BulkResult = 'retried' | 'removed' | 'not-failed' | 'missing' | 'error';

export interface BulkItem {
  queue: string;
  id: string;
}

export interface BulkOutcome {
  ref: string;
  result: BulkResult;
  detail?: string;
}

export interface BulkReport {
  action: BulkAction;
  total: number;
  done: number;
  interrupted: boolean;
  counts: Record<BulkResult, number>;
  outcomes: BulkOutcome[];
}

export async function runBulk(
  queues: OpsQueues,
  action: BulkAction,
  items: readonly BulkItem[],
  opts: { onProgress?: (done: number, total: number) => void; shouldStop?: () => boolean } = {},
): Promise<BulkReport> {
  const counts: Record<BulkResult, number> = { retried: 0, removed: 0, 'not-failed': 0, missing: 0, error: 0 };
  const outcomes: BulkOutcome[] = [];
  let done = 0;
  let interrupted = false;
  for (const item of items) {
    if (opts.shouldStop?.()) {
      interrupted = true;
      break;
    }
    const ref = `${item.queue}/${item.id}`;
    const queue = queues.byName.get(item.queue);
    let outcome: BulkOutcome;
    if (!queue) outcome = { ref, result: 'missing', detail: `unknown queue ${item.queue}` };
    else {
      try {
        outcome = { ref, result: action === 'retry' ? await retryFailedJob(queue, item.id) : await removeFailedJob(queue, item.id) };
      } catch (e) {
        outcome = { ref, result: 'error', detail: e instanceof Error ? e.message : String(e) };
      }
    }
    counts[outcome.result]++;
    outcomes.push(outcome);
    done++;
    opts.onProgress?.(done, items.length);
  }
  return { action, total: items.length, done, interrupted, counts, outcomes };
}

/** A one-line progress bar, e.g. `retry [#########-----------]  45/100`. */
export function progressLine(label: string, done: number, total: number, width = 30): string {
  const frac = total ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  const n = String(total).length;
  return `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(done).padStart(n)}/${total}`;
}
