// Prometheus metrics. One registry per process (`metrics`, below) holding the counters other
// parts increment where things happen (the Jira client, the cache, the provisioner), plus
// gauges the web role fills at scrape time from Redis (queue counts, heartbeats, token).
//
// Counters live in the process that counts. Every process started through runRoles publishes
// its registry to Redis and the web role's /metrics shows them all, labelled by role and
// instance (src/ops/metrics-share.ts); the Redis-derived gauges are shown once, unlabelled.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { buildInfo } from './build-info.js';

export interface Metrics {
  registry: Registry;
  /** Jobs by queue and state, set at scrape time (see queueCountsSource). */
  queueJobs: Gauge<'queue' | 'state'>;
  queuePaused: Gauge<'queue'>;
  /** Processing time of finished jobs, seconds, by queue and outcome (completed|failed). */
  jobDuration: Histogram<'queue' | 'outcome'>;
  /** Jira REST calls by logical operation (e.g. user.search) and HTTP status (or "network"). */
  jiraRequests: Counter<'operation' | 'status'>;
  /** 429 (and 503 with Retry-After) answers from Jira. */
  jiraRateLimited: Counter<'operation'>;
  /** Seconds the workers were told to wait by Retry-After. */
  jiraRateLimitedSeconds: Counter;
  /** Account cache lookups: result = hit | miss (negative hits count as hits). */
  cacheLookups: Counter<'result'>;
  cacheHitRatio: Gauge;
  /** Seconds since each mailbox's poller last proved its IMAP connection alive. */
  mailboxHeartbeatAge: Gauge<'mailbox'>;
  /** Days until the workaround token expires (negative once expired). */
  tokenDaysToExpiry: Gauge;
  /** 1 when the token is usable (valid, not paused), else 0. */
  tokenValid: Gauge;
  /** Jira accounts created, by mode (user | customer). */
  accountsCreated: Counter<'mode'>;
  /** 1 when the web process's Redis answers a PING at scrape time, else 0. */
  redisUp: Gauge;
  /** Each mailbox's poller state: 1 for the current one, 0 for the others. */
  mailboxState: Gauge<'mailbox' | 'state'>;
  /** Always 1: which code this process runs (published with its role and instance). */
  buildInfo: Gauge<'version' | 'commit' | 'node'>;
  /** Mail to customers (src/respond/), by kind (acknowledge, comment) and outcome (sent, failed, deferred, skipped; bounced: a report for a sent mail, noted on its issue). */
  customerMails: Counter<'kind' | 'outcome'>;
  /** Replies to resolved issues (src/deliver/resolved.ts), by outcome: comment | reopened | not-reopened | new-issue. */
  resolvedReplies: Counter<'outcome'>;
}

/**
 * Label values known in advance, each counter's series made at 0 when the process starts.
 * Prometheus's increase() and rate() count from a series' first sample: a labelled counter has
 * no series until its first inc(), so it first appears at 1 and that 1 is never counted (every
 * process's first account, first failed customer mail, first reopen). Values are the code's own.
 */
const KNOWN_LABELS = {
  accountsCreated: [{ mode: 'user' }, { mode: 'customer' }],
  customerMails: ['acknowledge', 'comment'].flatMap((kind) => ['sent', 'failed', 'deferred', 'skipped', 'bounced'].map((outcome) => ({ kind, outcome }))),
  resolvedReplies: ['comment', 'reopened', 'not-reopened', 'new-issue'].map((outcome) => ({ outcome })),
  cacheLookups: [{ result: 'hit' }, { result: 'miss' }],
};

function startAtZero(m: Metrics): Metrics {
  for (const labels of KNOWN_LABELS.accountsCreated) m.accountsCreated.inc(labels, 0);
  for (const labels of KNOWN_LABELS.customerMails) m.customerMails.inc(labels, 0);
  for (const labels of KNOWN_LABELS.resolvedReplies) m.resolvedReplies.inc(labels, 0);
  for (const labels of KNOWN_LABELS.cacheLookups) m.cacheLookups.inc(labels, 0);
  return m;
}

export function createMetrics(opts: { registry?: Registry; defaultMetrics?: boolean } = {}): Metrics {
  const registry = opts.registry ?? new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'mailroom_process_' });
  const registers = [registry];
  const cacheLookups = new Counter({
    name: 'mailroom_cache_lookups_total',
    help: 'Account cache lookups by result (hit, miss)',
    labelNames: ['result'] as const,
    registers,
  });
  return startAtZero({
    registry,
    queueJobs: new Gauge({ name: 'mailroom_queue_jobs', help: 'Jobs per queue and state', labelNames: ['queue', 'state'] as const, registers }),
    queuePaused: new Gauge({ name: 'mailroom_queue_paused', help: '1 when the queue is paused', labelNames: ['queue'] as const, registers }),
    jobDuration: new Histogram({
      name: 'mailroom_job_duration_seconds',
      help: 'Processing time of finished jobs',
      labelNames: ['queue', 'outcome'] as const,
      // From a cached lookup (ms) to an attachment upload against a slow Jira (a minute).
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    jiraRequests: new Counter({
      name: 'mailroom_jira_requests_total',
      help: 'Jira REST requests by operation and HTTP status',
      labelNames: ['operation', 'status'] as const,
      registers,
    }),
    jiraRateLimited: new Counter({
      name: 'mailroom_jira_rate_limited_total',
      help: 'Jira answers that asked us to slow down (429, 503 with Retry-After)',
      labelNames: ['operation'] as const,
      registers,
    }),
    jiraRateLimitedSeconds: new Counter({
      name: 'mailroom_jira_rate_limited_seconds_total',
      help: 'Seconds the workers waited because Jira asked them to',
      registers,
    }),
    cacheLookups,
    cacheHitRatio: new Gauge({
      name: 'mailroom_cache_hit_ratio',
      help: 'Account cache hits / lookups since the process started (NaN before its first lookup); for a window, divide rates of mailroom_cache_lookups_total',
      registers,
      async collect() {
        const values = (await cacheLookups.get()).values;
        const hits = values.filter((v) => v.labels.result === 'hit').reduce((n, v) => n + v.value, 0);
        const total = values.reduce((n, v) => n + v.value, 0);
        // No lookup is no ratio: a 0 would read as "every lookup missed" on each process that never looks up.
        this.set(total ? hits / total : NaN);
      },
    }),
    accountsCreated: new Counter({
      name: 'mailroom_accounts_created_total',
      help: 'Jira accounts created, by mode',
      labelNames: ['mode'] as const,
      registers,
    }),
    ...healthMetrics(registers),
    customerMails: new Counter({
      name: 'mailroom_customer_mails_total',
      help: 'Mail to customers (acknowledgements, agent replies) by kind and outcome',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    }),
    resolvedReplies: new Counter({
      name: 'mailroom_resolved_replies_total',
      help: 'Replies to resolved issues by outcome (comment, reopened, not-reopened, new-issue)',
      labelNames: ['outcome'] as const,
      registers,
    }),
  });
}

type HealthMetrics = Pick<Metrics, 'mailboxHeartbeatAge' | 'tokenDaysToExpiry' | 'tokenValid' | 'redisUp' | 'mailboxState' | 'buildInfo'>;

/** What says whether the install is well (mailboxes, token, Redis, the code running), beside what counts its work. */
function healthMetrics(registers: Registry[]): HealthMetrics {
  return {
    mailboxHeartbeatAge: new Gauge({
      name: 'mailroom_mailbox_heartbeat_age_seconds',
      help: "Seconds since the mailbox's poller last proved its IMAP connection alive",
      labelNames: ['mailbox'] as const,
      registers,
    }),
    tokenDaysToExpiry: new Gauge({ name: 'mailroom_token_days_to_expiry', help: 'Days until the workaround token expires', registers }),
    tokenValid: new Gauge({ name: 'mailroom_token_valid', help: '1 when the workaround token is valid and not paused', registers }),
    redisUp: new Gauge({ name: 'mailroom_redis_up', help: "1 when Redis answers the web role's PING at scrape time, 0 when it does not", registers }),
    mailboxState: new Gauge({
      name: 'mailroom_mailbox_state',
      help: "Each mailbox's poller state (connecting, syncing, idle, backoff, parked, stopped): 1 for the current one",
      labelNames: ['mailbox', 'state'] as const,
      registers,
    }),
    buildInfo: buildInfoGauge(registers),
  };
}

function buildInfoGauge(registers: Registry[]): Gauge<'version' | 'commit' | 'node'> {
  const g = new Gauge({ name: 'mailroom_build_info', help: 'Which Mailroom this process runs: version, commit, Node (always 1)', labelNames: ['version', 'commit', 'node'] as const, registers });
  const b = buildInfo();
  g.set({ version: b.version, commit: b.commit, node: b.node }, 1);
  return g;
}

/** The process-wide metrics: import and increment, e.g. `metrics.jiraRequests.inc({ operation, status })`. */
export const metrics: Metrics = createMetrics({ defaultMetrics: true });

/** Something that refreshes gauges from Redis just before a scrape. */
export interface ScrapeSource {
  name: string;
  /** The families collect() fills: left out of a scrape in which it failed (their last values would read as current). */
  metrics: readonly string[];
  collect(m: Metrics): Promise<void>;
}
