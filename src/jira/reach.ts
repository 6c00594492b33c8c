// Jira reachability, learnt from real traffic: every answer (or the lack of one) the Jira
// client sees is counted here, shared through Redis so /readyz, `mailroom status` and
// /metrics in any process see what every role met.
//
// Redis, under the install's prefix:
//   <prefix>:jira:reach            hash  url, lastSuccessAt, lastErrorAt, lastError (ms since epoch)
//   <prefix>:jira:reach:m:<minute> hash  ok, err: calls counted in that minute (expire after 15 min)
//
// "Reached" means Jira answered below 500: a 401, 404 or 429 is Jira speaking (the token, the
// config or the pace is wrong, and those have their own checks). No answer (refused, reset,
// timed out) and 5xx are errors: Jira is down or failing, whatever the request.
import { Gauge, type Registry } from 'prom-client';
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';
import type { ScrapeSource } from '../core/metrics.js';

export function reachKey(prefix: string): string {
  return key(prefix, 'jira', 'reach');
}

function minuteKey(prefix: string, minute: number): string {
  return key(prefix, 'jira', 'reach', 'm', String(minute));
}

/** The error rate is taken over this many whole minutes (the current one included). */
export const ERROR_RATE_MINUTES = 5;
// Minute buckets outlive the rate window a little, so a reader never sums a half-expired one.
const BUCKET_TTL_S = 15 * 60;
// Counts are sent at most this often: one Redis round trip per second per process, however
// many Jira calls it makes; the first error after a success (and vice versa) goes at once.
const FLUSH_MS = 1000;

/** Pure: is this answer Jira being reachable? */
export function isReachAnswer(status: number): boolean {
  return status > 0 && status < 500;
}

/** The URL as shown: no user info, no query (nothing secret goes to Redis or /metrics). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

export interface JiraCallInfo {
  operation: string;
  status: number;
  /** Why no answer came (network code, timeout), when status is 0. */
  error?: string;
}

export interface JiraReachRecorder {
  observe(info: JiraCallInfo): void;
  /** Send what is counted now (tests, shutdown). Never throws. */
  flush(): Promise<void>;
}

// KEYS[1] reach hash; ARGV url, success ms, error ms, error text. Keeps the newest of each, so
// processes flushing out of order never move a timestamp back.
const RECORD = `
redis.call('HSET', KEYS[1], 'url', ARGV[1])
local s = tonumber(ARGV[2])
if s > 0 and s > tonumber(redis.call('HGET', KEYS[1], 'lastSuccessAt') or '0') then
  redis.call('HSET', KEYS[1], 'lastSuccessAt', ARGV[2])
end
local e = tonumber(ARGV[3])
if e > 0 and e > tonumber(redis.call('HGET', KEYS[1], 'lastErrorAt') or '0') then
  redis.call('HSET', KEYS[1], 'lastErrorAt', ARGV[3], 'lastError', ARGV[4])
end
return 1`;

export function createJiraReachRecorder(opts: { redis: Redis; prefix: string; url: string; now?: () => number }): JiraReachRecorder {
  const now = opts.now ?? Date.now;
  const url = displayUrl(opts.url);
  let pending = { ok: 0, err: 0, lastSuccessAt: 0, lastErrorAt: 0, lastError: '' };
  let lastKind: 'ok' | 'err' | undefined;
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;

  async function send(): Promise<void> {
    const p = pending;
    pending = { ok: 0, err: 0, lastSuccessAt: 0, lastErrorAt: 0, lastError: '' };
    if (!p.ok && !p.err) return;
    const at = p.lastSuccessAt || p.lastErrorAt || now();
    const bucket = minuteKey(opts.prefix, Math.floor(at / 60_000));
    const multi = opts.redis.multi().eval(RECORD, 1, reachKey(opts.prefix), url, String(p.lastSuccessAt), String(p.lastErrorAt), p.lastError);
    if (p.ok) multi.hincrby(bucket, 'ok', p.ok);
    if (p.err) multi.hincrby(bucket, 'err', p.err);
    await multi.expire(bucket, BUCKET_TTL_S).exec();
  }

  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    // Redis away: the counts are lost, which only blurs the rate; Redis has its own check.
    flushing = (flushing ?? Promise.resolve()).then(() => send().catch(() => undefined));
    return flushing;
  };

  return {
    observe(info) {
      const t = now();
      const kind = isReachAnswer(info.status) ? 'ok' : 'err';
      if (kind === 'ok') {
        pending.ok++;
        pending.lastSuccessAt = t;
      } else {
        pending.err++;
        pending.lastErrorAt = t;
        pending.lastError = (info.status ? `HTTP ${info.status} on ${info.operation}` : `no answer on ${info.operation}: ${info.error ?? 'network error'}`).slice(0, 300);
      }
      const changed = lastKind !== kind;
      lastKind = kind;
      if (changed) void flush();
      else if (!timer) {
        timer = setTimeout(() => void flush(), FLUSH_MS);
        timer.unref();
      }
    },
    flush,
  };
}

export interface JiraReach {
  /** The Jira URL the traffic went to (undefined: no traffic recorded yet). */
  url?: string;
  lastSuccessAt?: string;
  lastErrorAt?: string;
  lastError?: string;
  /** Calls and errors over the last ERROR_RATE_MINUTES minutes. */
  calls: number;
  errors: number;
  /** errors / calls over the window (0 without calls). */
  errorRate: number;
  /** False once calls have failed (no answer, 5xx) for DOWN_AFTER_MS with no answer between; undefined: no traffic yet. */
  reachable?: boolean;
}

// One failed call among answers is a blip (a 502 from a proxy, a reset connection), not an
// outage: Jira counts as unreachable once calls have failed for this long with no answer in
// between, or at once when it never answered. Flapping /readyz would only page people.
export const DOWN_AFTER_MS = 10_000;

/** Pure: last success and last error (ms since epoch, 0 = never) mean Jira is down. */
export function isDown(lastSuccessAt: number, lastErrorAt: number): boolean {
  return lastErrorAt > 0 && lastErrorAt >= lastSuccessAt && (lastSuccessAt === 0 || lastErrorAt - lastSuccessAt >= DOWN_AFTER_MS);
}

export async function readJiraReach(redis: Redis, prefix: string, now = Date.now()): Promise<JiraReach> {
  const minute = Math.floor(now / 60_000);
  const multi = redis.multi().hgetall(reachKey(prefix));
  for (let i = 0; i < ERROR_RATE_MINUTES; i++) multi.hgetall(minuteKey(prefix, minute - i));
  const res = (await multi.exec()) ?? [];
  for (const [e] of res) if (e) throw e;
  const h = (res[0]?.[1] ?? {}) as Record<string, string>;
  let calls = 0;
  let errors = 0;
  for (const [, b] of res.slice(1)) {
    const bucket = (b ?? {}) as Record<string, string>;
    const ok = Number(bucket.ok ?? 0);
    const err = Number(bucket.err ?? 0);
    calls += ok + err;
    errors += err;
  }
  const s = Number(h.lastSuccessAt ?? 0);
  const e = Number(h.lastErrorAt ?? 0);
  const iso = (n: number) => (n > 0 ? new Date(n).toISOString() : undefined);
  return {
    url: h.url,
    lastSuccessAt: iso(s),
    lastErrorAt: iso(e),
    lastError: e > 0 ? h.lastError : undefined,
    calls,
    errors,
    errorRate: calls ? errors / calls : 0,
    reachable: s || e ? !isDown(s, e) : undefined,
  };
}

/** One line for a person: where Jira is, whether it answers, since when, how often it failed. */
export function describeJiraReach(r: JiraReach): string {
  if (r.reachable === undefined) return 'no Jira traffic recorded yet';
  const rate = `${r.errors}/${r.calls} calls failed in the last ${ERROR_RATE_MINUTES} min (${Math.round(r.errorRate * 100)}%)`;
  if (r.reachable) return `${r.url} answers (last success ${r.lastSuccessAt}); ${rate}`;
  const since = r.lastSuccessAt ? `last success ${r.lastSuccessAt}` : 'never answered';
  return `${r.url} unreachable: ${r.lastError ?? 'no answer'} at ${r.lastErrorAt}; ${since}; ${rate}`;
}

// ---- /readyz, /metrics --------------------------------------------------------------------

/** Ready unless Jira calls have been failing (no answer, 5xx) for a while; no traffic yet is not a failure. */
export function jiraReachVerdict(r: JiraReach): { ok: boolean; detail: string } {
  return { ok: r.reachable !== false, detail: describeJiraReach(r) };
}

/** A readiness check (the shape src/ops/readiness.ts runs) named `jira`. */
export function jiraReachCheck(redis: Redis, prefix: string): { name: string; check(): Promise<{ ok: boolean; detail: string }> } {
  return { name: 'jira', check: async () => jiraReachVerdict(await readJiraReach(redis, prefix)) };
}

interface ReachGauges {
  reachable: Gauge<'url'>;
  lastSuccess: Gauge<'url'>;
  lastError: Gauge<'url'>;
  errorRatio: Gauge<'url'>;
  calls: Gauge<'url'>;
}

// Registered on first use in each registry, so the Metrics interface stays as it is.
const gaugesByRegistry = new WeakMap<Registry, ReachGauges>();

function reachGauges(registry: Registry): ReachGauges {
  let g = gaugesByRegistry.get(registry);
  if (!g) {
    const registers = [registry];
    const labelNames = ['url'] as const;
    g = {
      reachable: new Gauge({ name: 'mailroom_jira_reachable', help: '0 once Jira calls have failed (no answer or 5xx) for 10 s with no answer between, else 1', labelNames, registers }),
      lastSuccess: new Gauge({ name: 'mailroom_jira_last_success_timestamp_seconds', help: 'When Jira last answered (any role)', labelNames, registers }),
      lastError: new Gauge({ name: 'mailroom_jira_last_error_timestamp_seconds', help: 'When a Jira call last got no answer or a 5xx (any role)', labelNames, registers }),
      errorRatio: new Gauge({ name: 'mailroom_jira_error_ratio', help: `Share of Jira calls without an answer or with a 5xx over the last ${ERROR_RATE_MINUTES} minutes (all roles)`, labelNames, registers }),
      calls: new Gauge({ name: 'mailroom_jira_calls_recent', help: `Jira calls over the last ${ERROR_RATE_MINUTES} minutes (all roles)`, labelNames, registers }),
    };
    gaugesByRegistry.set(registry, g);
  }
  return g;
}

/** Names of the gauges above: install-wide figures read from Redis, not per-process counters. */
export const JIRA_REACH_METRICS = [
  'mailroom_jira_reachable',
  'mailroom_jira_last_success_timestamp_seconds',
  'mailroom_jira_last_error_timestamp_seconds',
  'mailroom_jira_error_ratio',
  'mailroom_jira_calls_recent',
];

export function jiraReachSource(redis: Redis, prefix: string): ScrapeSource {
  return {
    name: 'jira-reach',
    metrics: JIRA_REACH_METRICS,
    async collect(m) {
      const r = await readJiraReach(redis, prefix);
      const g = reachGauges(m.registry);
      for (const gauge of Object.values(g)) gauge.reset();
      if (r.url === undefined) return;
      const labels = { url: r.url };
      if (r.reachable !== undefined) g.reachable.set(labels, r.reachable ? 1 : 0);
      if (r.lastSuccessAt) g.lastSuccess.set(labels, Date.parse(r.lastSuccessAt) / 1000);
      if (r.lastErrorAt) g.lastError.set(labels, Date.parse(r.lastErrorAt) / 1000);
      g.errorRatio.set(labels, r.errorRate);
      g.calls.set(labels, r.calls);
    },
  };
}
