// `mailroom status`: what the queues hold right now, by state; whether workers consume each
// queue and why its jobs wait; each IMAP mailbox's poller heartbeat; whether Jira answers; the
// workaround token's state and days left; the failed jobs and the command that lists them.
import { buildInfo, describeBuild } from '../../core/build-info.js';
import type { Command } from 'commander';
import { ms } from '../../config/duration.js';
import type { Config } from '../../config/load.js';
import type { Redis } from '../../core/redis.js';
import { allQueueStatus, closeQueues, JOB_STATES, openQueues, type OpsQueues, type QueueStatus } from '../../ops/queue-status.js';
import { heartbeatVerdict, imapMailboxIds, tokenVerdict } from '../../ops/health.js';
import { jiraReachVerdict, readJiraReach } from '../../jira/reach.js';
import { allQueueActivity, retryAfterLeft, type QueueActivity } from '../../ops/queue-health.js';
import { siteHost } from '../../jira/site.js';
import { tokenQueues } from '../../queues/catalog.js';
import { readHeartbeats } from '../../imap/heartbeat.js';
import { readTokenHealth, type TokenHealth } from '../../token/runtime.js';
import { expiryStatus, type ExpiryLevel } from '../../token/watch.js';
import { breakerLine, openBreakers } from '../../token/project-breaker.js';
import { ceilingLine } from '../../ops/account-ceiling-health.js';
import { ceilingStatus } from '../../identity/account-ceiling.js';
import type { CliContext } from '../context.js';
import { reachRedis } from '../redis-reach.js';
import { storeStatus } from '../../ops/store-size.js';
import { EXIT, inline, out, printJson, table } from '../output.js';
import { formatRedisWhere, redisWhere } from '../../ops/redis-where.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description("show every queue with its job counts by state and its workers, why jobs wait, the mailboxes' heartbeats, Jira's reachability and the token state")
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Exit code: 0 when all is well; 1 when failed jobs exist (list them with \`mailroom failed list\`),
jobs wait on a queue no worker consumes, Jira has stopped answering, the token is not
usable (missing, refused, expired) or a mailbox has no live poller; 2 bad configuration;
3 Redis unreachable. A token expiring within token.warnBeforeExpiry is a warning (exit 0).

Examples:
  mailroom status
  mailroom status --json | jq '.queues[] | select(.counts.failed > 0)'
  mailroom status --json | jq '.activity[] | select(.consuming | not)'`,
    )
    .action(async (opts: { json?: boolean }) => {
      const config = ctx.config();
      const redis = await reachRedis(ctx);
      const queues = openQueues({ connection: redis, prefix: config.prefix });
      try {
        const report = await gatherStatus(config, redis, queues);
        process.exitCode = report.well ? EXIT.ok : EXIT.failed;
        if (opts.json) printStatusJson(report);
        else printStatusText(report);
      } finally {
        await closeQueues(queues);
      }
    });
}

type StatusReport = Awaited<ReturnType<typeof gatherStatus>>;

/** Everything `status` shows, read at one moment, with the verdicts drawn from it. */
async function gatherStatus(config: Config, redis: Redis, queues: OpsQueues) {
  const now = Date.now();
  const [status, activity, retryAfterMs, heartbeats, token, jira, store] = await Promise.all([
    allQueueStatus(queues),
    allQueueActivity(queues),
    retryAfterLeft(redis, config.prefix, siteHost(config.jira.site)),
    readHeartbeats(redis, config.prefix, { mailboxIds: imapMailboxIds(config), now }),
    readTokenHealth(redis, config.prefix),
    readJiraReach(redis, config.prefix, now),
    storeStatus(redis, config.prefix),
  ]);
  const accounts = await ceilingStatus(redis, config.prefix, now);
  const heldProjects = await openBreakers(redis, config.prefix);
  const mailboxes = heartbeats.map((h) => ({ ...h, verdict: heartbeatVerdict(h) }));
  const tokenState = tokenVerdict(token);
  const expiry = tokenExpiry(token, config, now);
  const jiraState = jiraReachVerdict(jira);
  const failed = failedSummary(status);
  const idle = idleQueues(status, activity);
  const well = tokenState.ok && mailboxes.every((m) => m.verdict.ok) && jiraState.ok && failed.total === 0 && idle.length === 0;
  return { config, redis, now, status, activity, retryAfterMs, mailboxes, token, tokenState, expiry, jira, jiraState, failed, accounts, store, well, heldProjects };
}

function printStatusJson(r: StatusReport): void {
  const { gate: _gate, ...tokenShown } = r.token;
  const { from: _from, ...build } = buildInfo();
  printJson({
    build,
    prefix: r.config.prefix,
    redis: redisWhere(r.redis),
    queues: r.status,
    activity: r.activity,
    retryAfterMs: r.retryAfterMs,
    mailboxes: r.mailboxes,
    jira: { ...r.jira, verdict: r.jiraState },
    token: { ...tokenShown, verdict: r.tokenState, expiry: r.expiry },
    failed: r.failed,
    accounts: r.accounts,
    heldProjects: r.heldProjects,
    store: r.store.size,
  });
}

function printStatusText(r: StatusReport): void {
  const { status, token, tokenState } = r;
  out(
    table(
      ['QUEUE', ...JOB_STATES.map((s) => s.toUpperCase()), 'PAUSED'],
      status.map((s) => [s.queue, ...JOB_STATES.map((st) => s.counts[st]), s.paused ? 'yes' : '']),
    ),
  );
  out();
  printActivity(status, r.activity, r.retryAfterMs, token);
  printMailboxes(r.mailboxes, r.now);
  out();
  out(`mailroom: ${describeBuild()} (this command; each role's is in its start line and mailroom_build_info)`);
  out(formatRedisWhere(redisWhere(r.redis)));
  printJira(r.jiraState);
  out(ceilingLine(r.accounts));
  out(breakerLine(r.heldProjects));
  out(r.store.line);
  out(`token: ${tokenState.ok ? 'ok' : 'NOT USABLE'}${tokenState.detail ? ` - ${inline(tokenState.detail)}` : ''}${token.expiresAt ? ` (expires ${token.expiresAt})` : ''}`);
  printExpiryWarning(r.expiry, r.config);
  printFailed(r.failed);
}

function printMailboxes(mailboxes: StatusReport['mailboxes'], now: number): void {
  if (!mailboxes.length) return;
  out();
  out(
    table(
      ['MAILBOX', 'STATE', 'HEARTBEAT', 'LAST SYNC', 'PENDING', 'PROBLEM'],
      mailboxes.map((m) => [
        m.mailboxId,
        m.state,
        m.updatedAt ? `${Math.round((now - Date.parse(m.updatedAt)) / 1000)} s ago` : 'never',
        m.lastSyncAt ?? '',
        m.pending,
        m.verdict.ok ? (m.lastError ?? '') : m.verdict.detail,
      ]),
    ),
  );
}

interface FailedSummary {
  total: number;
  byQueue: { queue: string; failed: number; command: string }[];
  /** The command that lists them all. */
  command?: string;
}

function failedSummary(status: QueueStatus[]): FailedSummary {
  const byQueue = status
    .filter((s) => s.counts.failed > 0)
    .map((s) => ({ queue: s.queue, failed: s.counts.failed, command: `mailroom failed list --queue ${s.queue}` }));
  const total = byQueue.reduce((n, q) => n + q.failed, 0);
  return { total, byQueue, command: total ? 'mailroom failed list' : undefined };
}

/** Queues with jobs ready to run and no worker connected to take them. */
function idleQueues(status: QueueStatus[], activity: QueueActivity[]): string[] {
  return activity
    .filter((a) => a.workers === 0)
    .filter((a) => {
      const c = status.find((s) => s.queue === a.queue)?.counts;
      return !!c && c.waiting + c.prioritized + c.delayed > 0;
    })
    .map((a) => a.queue);
}

function tokenExpiry(token: TokenHealth, config: Config, now: number): { level: ExpiryLevel; daysLeft: number; warnBeforeExpiry: string } | undefined {
  if (!token.expiresAt) return undefined;
  const warnBeforeExpiry = config.token.warnBeforeExpiry;
  return { ...expiryStatus(new Date(token.expiresAt), new Date(now), ms(warnBeforeExpiry)), warnBeforeExpiry };
}

function printActivity(status: QueueStatus[], activity: QueueActivity[], retryAfterMs: number, token: TokenHealth): void {
  const rows = activity.map((a) => {
    const c = status.find((s) => s.queue === a.queue)?.counts;
    const why: string[] = [];
    if (a.paused) {
      const byGate = token.gate.paused && token.gate.pausedQueues.includes(a.queue);
      why.push(byGate ? `paused for the token: ${token.gate.reason ?? 'refused'}` : 'paused by hand (mailroom resumes only what it paused)');
    }
    const usesJira = tokenQueues.some((q) => q.name === a.queue);
    if (a.rateLimitedMs > 0 || (usesJira && retryAfterMs > 0 && !a.paused && (c?.waiting ?? 0) + (c?.delayed ?? 0) > 0)) {
      why.push(`Jira's Retry-After: ${Math.ceil(Math.max(a.rateLimitedMs, retryAfterMs) / 1000)} s left`);
    }
    if (a.workers === 0 && c && c.waiting + c.prioritized + c.delayed > 0) why.push('NO WORKER consumes this queue: start its role');
    for (const g of a.delayed) why.push(`${g.count} delayed: ${g.example}`);
    const workers = a.workers === undefined ? '?' : String(a.workers);
    return [a.queue, workers, a.consuming ? 'yes' : 'NO', why.join('; ')];
  });
  out(table(['QUEUE', 'WORKERS', 'CONSUMING', 'WHY JOBS WAIT'], rows));
}

function printJira(v: { ok: boolean; detail: string }): void {
  out(`jira: ${v.ok ? 'ok' : 'UNREACHABLE'} - ${inline(v.detail)}`);
}

function printExpiryWarning(expiry: ReturnType<typeof tokenExpiry>, config: Config): void {
  if (expiry?.level !== 'warn') return;
  out(
    `WARNING: the token expires in ${expiry.daysLeft} days (within token.warnBeforeExpiry ${config.token.warnBeforeExpiry}): ` +
      'create a new one and run `mailroom token rotate`',
  );
}

function printFailed(f: FailedSummary): void {
  if (!f.total) return;
  out(`failed: ${f.total} job(s) (${f.byQueue.map((q) => `${q.queue} ${q.failed}`).join(', ')}): see \`${f.command}\``);
}
