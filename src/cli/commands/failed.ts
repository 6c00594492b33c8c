// `mailroom failed …`: the mail that needs a person. List and filter failed jobs, show one
// with its error and the mail it was about, retry or remove them one by one or in bulk, and
// prune old ones. Bulk runs are resumable: each job is handled individually and idempotently.
import type { Command } from 'commander';
import { parseDurationArg } from '../../config/duration.js';
import type { FailedFilter, FailedJob, FailedJobDetail } from '../../ops/failed-summary.js';
import { isFilterEmpty } from '../../ops/failed-summary.js';
import { parseJobRef } from '../../ops/ids.js';
import { progressLine, runBulk, type BulkAction, type BulkItem } from '../../ops/bulk.js';
import {
  closeQueues,
  failedIds,
  findJob,
  JobLookupError,
  listFailed,
  onlyQueue,
  openQueues,
  QUEUE_NAMES,
  showFailed,
  type OpsQueues,
} from '../../ops/queue-status.js';
import type { CliContext } from '../context.js';
import { reachRedis } from '../redis-reach.js';
import { CliError, EXIT, err, inline, LAST_CELL_MAX, out, printJson, table } from '../output.js';

interface FilterOpts {
  queue?: string;
  since?: string;
  reason?: string;
  sender?: string;
  json?: boolean;
}

const ID_HELP = `
Job references:
  Jobs are named <queue>/<jobId>, as \`failed list\` prints them, e.g.
    mail-inbound/support:1700000000:42
    identity-provision/provision|acme.atlassian.net|ann@example.com
  The text before the first "/" is taken as the queue only when it is a queue name
  (${QUEUE_NAMES.join(', ')}); the rest is the job id verbatim, so ids may contain ":", "|" and "/".
  A bare job id is looked up in every queue (or in --queue); if several queues hold it,
  you are asked to name the queue. Quote ids containing "|" in the shell.`;

const EXIT_HELP = `
Exit codes: 0 ok, 1 something needs attention (see each command), 2 bad arguments or
configuration, 3 Redis unreachable.`;

function filterFrom(opts: FilterOpts, now = Date.now()): FailedFilter {
  const f: FailedFilter = {};
  if (opts.since !== undefined) {
    try {
      f.since = now - parseDurationArg(opts.since, '--since');
    } catch (e) {
      throw new CliError((e as Error).message);
    }
  }
  if (opts.reason !== undefined) {
    try {
      f.reason = new RegExp(opts.reason, 'i');
    } catch (e) {
      throw new CliError(`--reason "${opts.reason}" is not a regular expression: ${(e as Error).message}`);
    }
  }
  if (opts.sender !== undefined) f.sender = opts.sender;
  return f;
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('-q, --queue <queue>', `only this queue (${QUEUE_NAMES.join(', ')})`)
    .option('--since <duration>', 'only jobs that failed within this long, e.g. 30m, 2h, 7d')
    .option('--reason <regex>', 'only jobs whose failure reason matches (case-insensitive)')
    .option('--sender <email>', "only mail from this sender (a provision job's email counts as sender)");
}

/** Open the queues and make sure Redis answers, failing with exit 3 rather than hanging. */
async function open(ctx: CliContext, queue?: string): Promise<OpsQueues> {
  const redis = await reachRedis(ctx);
  const all = openQueues({ connection: redis, prefix: ctx.config().prefix });
  try {
    return onlyQueue(all, queue);
  } catch (e) {
    await closeQueues(all);
    throw new CliError((e as Error).message);
  }
}

function printList(jobs: FailedJob[]): void {
  out(
    table(
      ['JOB', 'FAILED AT', 'TRIES', 'SENDER', 'SUBJECT', 'REASON'],
      jobs.map((j) => [j.ref, j.failedAt.replace(/\.\d+Z$/, 'Z'), j.attemptsMade, j.sender ?? '', inline(j.subject, 40), inline(j.reason, 70)]),
    ),
  );
}

export function register(program: Command, ctx: CliContext): void {
  const failed = program
    .command('failed')
    .description('inspect, retry and remove failed jobs (the mail that needs a person)')
    .addHelpText(
      'after',
      `
Examples:
  mailroom failed list --since 24h
  mailroom failed show 'jira-deliver/deliver|support|<abc@example.com>'
  mailroom failed retry --all --reason 'timeout|ECONNRESET' --dry-run
  mailroom failed remove --all --queue identity-provision --sender spam@example.com
  mailroom failed prune --older-than 30d
${ID_HELP}
${EXIT_HELP}`,
    );
  listCommand(failed, ctx);
  showCommand(failed, ctx);
  for (const action of ['retry', 'remove'] as const) bulkCommand(failed, ctx, action);
  pruneCommand(failed, ctx);
}

function listCommand(failed: Command, ctx: CliContext): void {
  withFilters(failed.command('list').description('list failed jobs, newest failure first'))
    .option('--limit <n>', 'show at most n jobs', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new CliError(`--limit "${v}" is not a positive whole number`);
      return n;
    })
    .option('--json', 'print JSON (an array of jobs)')
    .addHelpText(
      'after',
      `
Exit code: 0 when no failed job matches, 1 when some do (so scripts can alert on it).

Examples:
  mailroom failed list
  mailroom failed list --queue mail-inbound --since 2h
  mailroom failed list --reason 'policy|blocked' --json
  mailroom failed list --sender ann@example.com`,
    )
    .action(async (opts: FilterOpts & { limit?: number }) => {
      const filter = filterFrom(opts);
      const queues = await open(ctx, opts.queue);
      try {
        const jobs = await listFailed(queues, filter, opts.limit);
        if (opts.json) printJson(jobs);
        else if (jobs.length) printList(jobs);
        else err('no failed jobs match');
        process.exitCode = jobs.length ? EXIT.failed : EXIT.ok;
      } finally {
        await closeQueues(queues);
      }
    });
}

function showCommand(failed: Command, ctx: CliContext): void {
  failed
    .command('show')
    .description('show one job: the error of each attempt, attempts, sender, subject and the raw-store pointer')
    .argument('<id>', 'job reference: <queue>/<jobId>, or a bare job id')
    .option('-q, --queue <queue>', 'the queue, when the id alone is ambiguous')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Exit code: 0 when shown, 1 when no such job.
${ID_HELP}

Examples:
  mailroom failed show mail-inbound/support:1700000000:42
  mailroom failed show support:1700000000:42
  mailroom failed show 'provision|acme.atlassian.net|ann@example.com' --queue identity-provision --json`,
    )
    .action(async (id: string, opts: { queue?: string; json?: boolean }) => {
      const ref = parseRef(id, opts.queue);
      const queues = await open(ctx);
      try {
        const job = await lookup(() => showFailed(queues, ref));
        if (!job) {
          err(`no job ${inline(id)}${ref.queue ? ` in ${ref.queue}` : ' in any queue'}`);
          process.exitCode = EXIT.failed;
          return;
        }
        if (opts.json) printJson(job);
        else printShown(job);
      } finally {
        await closeQueues(queues);
      }
    });
}

function printShown(job: FailedJobDetail & { state: string }): void {
  const rows: [string, string | number | undefined][] = [
    ['job', job.ref],
    ['state', job.state],
    ['reason', job.reason],
    ['attempts', job.maxAttempts !== undefined ? `${job.attemptsMade} of ${job.maxAttempts}` : job.attemptsMade],
    ['failed at', job.failedAt],
    ['added at', job.addedAt],
    ['mailbox', job.mailboxId],
    ['sender', job.sender],
    ['subject', job.subject],
    ['message-id', job.messageId],
    ['raw source', job.rawRef ? `sha256:${job.rawRef.sha256}${job.rawRef.size !== undefined ? ` (${job.rawRef.size} bytes)` : ''}` : undefined],
  ];
  out(table(['FIELD', 'VALUE'], rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => [k, v])).split('\n').slice(1).join('\n'));
  job.stacktrace.forEach((s, i) => {
    out(`\nerror, attempt ${i + 1} of ${job.stacktrace.length} recorded:`);
    // Each line of the stack as one line of output, its indentation kept; the error's message
    // may hold Jira's text, so no line of it is taken as more than one line or unbounded.
    out(s.split('\n').map((l) => '  ' + ' '.repeat(Math.min(16, l.length - l.trimStart().length)) + inline(l, LAST_CELL_MAX)).join('\n'));
  });
}

function pruneCommand(failed: Command, ctx: CliContext): void {
  failed
    .command('prune')
    .description('remove failed jobs older than a duration (failed jobs are otherwise kept until removed)')
    .requiredOption('--older-than <duration>', 'remove jobs that failed longer ago than this, e.g. 30d')
    .option('-q, --queue <queue>', 'only this queue')
    .option('--dry-run', 'say how many would go, remove nothing')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  mailroom failed prune --older-than 30d --dry-run
  mailroom failed prune --older-than 90d --queue mail-inbound`,
    )
    .action(async (opts: { olderThan: string; queue?: string; dryRun?: boolean; json?: boolean }) => {
      let before: number;
      try {
        before = Date.now() - parseDurationArg(opts.olderThan, '--older-than');
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      const queues = await open(ctx, opts.queue);
      try {
        const items: BulkItem[] = [];
        for (const q of queues.byName.values()) for (const id of await failedIds(queues.redis, q, undefined, before)) items.push({ queue: q.name, id });
        if (opts.dryRun) {
          if (opts.json) printJson({ action: 'prune', dryRun: true, before: new Date(before).toISOString(), jobs: items.map((i) => `${i.queue}/${i.id}`) });
          else out(`would remove ${items.length} failed job(s) that failed before ${new Date(before).toISOString()}`);
          return;
        }
        const report = await runWithProgress(queues, 'remove', items, !!opts.json);
        if (opts.json) printJson({ ...report, action: 'prune', before: new Date(before).toISOString() });
        else out(summary(report));
        process.exitCode = report.interrupted ? EXIT.failed : EXIT.ok;
      } finally {
        await closeQueues(queues);
      }
    });
}

function parseRef(id: string, queue: string | undefined) {
  try {
    return parseJobRef(id, QUEUE_NAMES, queue);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

async function lookup<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof JobLookupError) throw new CliError(e.message);
    throw e;
  }
}

function bulkCommand(failed: Command, ctx: CliContext, action: BulkAction): void {
  const verb = action === 'retry' ? 'retry' : 'remove';
  withFilters(
    failed
      .command(action)
      .description(
        action === 'retry'
          ? 'move failed jobs back to wait with their attempts reset (they run again with the full retry policy)'
          : 'delete failed jobs (the raw mail stays in the mail store and in the mailbox)',
      )
      .argument('[ids...]', 'job references: <queue>/<jobId>, or bare job ids'),
  )
    .option('--all', `${verb} every failed job matching the filters (--queue, --since, --reason, --sender)`)
    .option('--dry-run', `list what would be ${action === 'retry' ? 'retried' : 'removed'}, change nothing`)
    .option('--json', 'print JSON (and no progress bar)')
    .addHelpText(
      'after',
      `
Give job references, or --all with optional filters; not both. Each job is handled on its
own: a job that is no longer failed is skipped, so an interrupted run (Ctrl-C) can simply be
run again. A progress bar is shown on a terminal; none with --json or when output is piped.
Exit code: 0 when done, 1 when some job was missing or could not be ${action === 'retry' ? 'retried' : 'removed'}, or the run was interrupted.
${ID_HELP}

Examples:
  mailroom failed ${action} mail-inbound/support:1700000000:42
  mailroom failed ${action} --all --queue jira-deliver --since 6h --dry-run
  mailroom failed ${action} --all --reason 'ETIMEDOUT|socket hang up'
  mailroom failed ${action} --all --sender ann@example.com --json`,
    )
    .action(async (ids: string[], opts: FilterOpts & { all?: boolean; dryRun?: boolean }) => {
      if (opts.all && ids.length) throw new CliError(`give job references or --all, not both`);
      if (!opts.all && !ids.length) throw new CliError(`name the jobs to ${verb}, or pass --all (see --help)`);
      const filter = filterFrom(opts);
      if (ids.length && !isFilterEmpty(filter)) throw new CliError('--since, --reason and --sender go with --all, not with job references');
      const refs = ids.map((id) => parseRef(id, opts.queue));
      const queues = await open(ctx, opts.all ? opts.queue : undefined);
      try {
        // A snapshot of what to act on, taken before acting: the failed set changes as we go.
        const items: BulkItem[] = [];
        const missing: string[] = [];
        if (opts.all) {
          for (const j of await listFailed(queues, filter)) items.push({ queue: j.queue, id: j.id });
        } else {
          for (const [i, ref] of refs.entries()) {
            const hit = await lookup(() => findJob(queues, ref));
            if (hit) items.push({ queue: hit.queue.name, id: ref.id });
            else missing.push(ids[i]!);
          }
        }
        if (opts.dryRun) {
          if (opts.json) printJson({ action, dryRun: true, jobs: items.map((i) => `${i.queue}/${i.id}`), missing });
          else {
            for (const i of items) out(`would ${verb} ${inline(`${i.queue}/${i.id}`)}`);
            for (const m of missing) err(`no job ${inline(m)}`);
            out(`${items.length} job(s) would be ${action === 'retry' ? 'retried' : 'removed'} (dry run: nothing changed)`);
          }
          process.exitCode = missing.length ? EXIT.failed : EXIT.ok;
          return;
        }
        const report = await runWithProgress(queues, action, items, !!opts.json);
        report.counts.missing += missing.length;
        for (const m of missing) report.outcomes.push({ ref: m, result: 'missing' });
        if (opts.json) printJson(report);
        else {
          for (const o of report.outcomes) if (o.result === 'missing' || o.result === 'error') err(`${inline(o.ref)}: ${o.result}${o.detail ? ` (${inline(o.detail)})` : ''}`);
          out(summary(report));
        }
        process.exitCode = report.interrupted || report.counts.missing || report.counts.error ? EXIT.failed : EXIT.ok;
      } finally {
        await closeQueues(queues);
      }
    });
}

function summary(r: Awaited<ReturnType<typeof runBulk>>): string {
  const done = r.action === 'retry' ? `retried ${r.counts.retried}` : `removed ${r.counts.removed}`;
  const parts = [done];
  if (r.counts['not-failed']) parts.push(`${r.counts['not-failed']} no longer failed (skipped)`);
  if (r.counts.missing) parts.push(`${r.counts.missing} missing`);
  if (r.counts.error) parts.push(`${r.counts.error} errors`);
  const tail = r.interrupted ? ` — interrupted after ${r.done} of ${r.total}; run the same command again to continue` : '';
  return parts.join(', ') + tail;
}

/**
 * Run a bulk action with a progress bar on a terminal (stderr), none otherwise; Ctrl-C stops
 * after the job in hand, and the summary says how far it got.
 */
async function runWithProgress(queues: OpsQueues, action: BulkAction, items: BulkItem[], json: boolean) {
  const showBar = !json && process.stderr.isTTY === true && process.stdout.isTTY === true;
  let stop = false;
  const onSigint = () => {
    stop = true;
  };
  process.on('SIGINT', onSigint);
  let last = 0;
  try {
    const report = await runBulk(queues, action, items, {
      shouldStop: () => stop,
      onProgress: showBar
        ? (done, total) => {
            const now = Date.now();
            // Redraw at most ~20 times a second: a terminal is slower than Redis.
            if (done === total || now - last > 50) {
              last = now;
              process.stderr.write('\r' + progressLine(action, done, total));
            }
          }
        : undefined,
    });
    if (showBar && items.length) process.stderr.write('\n');
    return report;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
