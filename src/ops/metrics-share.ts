// Metrics of every process in one scrape. In the Procfile layout each role is its own process
// with its own counters (Jira requests, job durations, accounts created, cache lookups); only
// the web role listens for Prometheus. So every process started through runRoles publishes a
// snapshot of its registry to Redis every PUBLISH_MS, and the web role's /metrics renders them
// all, each series labelled with the process's `role` and `instance`, beside the install-wide
// gauges it reads from Redis itself (queue counts, heartbeats, token, Jira reachability).
//
// Redis, under the install's prefix:
//   <prefix>:metrics:procs   hash  "<role>|<instance>" -> {"at":ms,"role","instance","metrics":[prom-client JSON]}
// A process that stopped is removed when it stops; one that died is left out once its
// snapshot is older than STALE_MS (and the field is deleted then).
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';
import { JIRA_REACH_METRICS } from '../jira/reach.js';

export function procsKey(prefix: string): string {
  return key(prefix, 'metrics', 'procs');
}

// Prometheus scrapes every 15-60 s; a snapshot at most 5 s old is as good as live there,
// and costs one small HSET per process every 5 s.
const PUBLISH_MS = 5_000;
// Three missed publishes: the process is gone or cut off from Redis. Its series stop rather
// than being served as current (a frozen counter or gauge would hide the outage).
export const STALE_MS = 15_000;
/** The only install-wide figure that is true without Redis: that Redis is down. */
const WITHOUT_REDIS = new Set(['mailroom_redis_up']);

/**
 * Gauges the web role fills from Redis at scrape time: figures of the install, the same
 * whichever process reads them, so they are shown once and without process labels.
 * A new Redis-derived gauge belongs here.
 */
export const INSTALL_METRICS = new Set([
  'mailroom_redis_up',
  'mailroom_mailbox_state',
  'mailroom_queue_jobs',
  'mailroom_queue_paused',
  'mailroom_mailbox_heartbeat_age_seconds',
  'mailroom_token_days_to_expiry',
  'mailroom_token_valid',
  'mailroom_new_accounts_this_hour',
  'mailroom_new_account_ceiling_waiting',
  'mailroom_project_held',
  'mailroom_store_mails',
  'mailroom_store_bytes',
  'mailroom_store_measured_timestamp_seconds',
  'mailroom_metrics_source_up',
  ...JIRA_REACH_METRICS,
]);

export interface ProcessLabels {
  role: string;
  instance: string;
}

/** One metric family as prom-client's getMetricsAsJSON gives it (its own type is not exported). */
interface Family {
  name: string;
  help: string;
  type: string;
  /** A number in this process; in a snapshot read from Redis, NaN and ±Inf as Prometheus writes them (JSON has no such numbers). */
  values: { value: number | string | null; labels: Record<string, string | number | undefined>; metricName?: string }[];
}

interface Snapshot extends ProcessLabels {
  at: number;
  metrics: Family[];
}

export interface MetricsPublisher {
  labels: ProcessLabels;
  registry: Registry;
  redis: Redis;
  prefix: string;
  publish(): Promise<void>;
  stop(): Promise<void>;
}

let current: MetricsPublisher | undefined;

/** The publisher of this process, when it runs one (processes started through runRoles). */
export function currentPublisher(): MetricsPublisher | undefined {
  return current;
}

export function defaultInstance(): string {
  return `${hostname()}:${process.pid}`;
}

async function processFamilies(registry: Registry): Promise<Family[]> {
  return ((await registry.getMetricsAsJSON()) as unknown as Family[]).filter((f) => !INSTALL_METRICS.has(f.name));
}

export function startMetricsPublisher(opts: { redis: Redis; prefix: string; role: string; registry: Registry; instance?: string }): MetricsPublisher {
  const labels = { role: opts.role, instance: opts.instance ?? defaultInstance() };
  // A Redis outage is reported by the roles' own connections and /readyz; this one stays quiet
  // (publishing simply skips rounds until it is back).
  opts.redis.on('error', () => undefined);
  const field = `${labels.role}|${labels.instance}`;
  const publish = async () => {
    // While Redis is away, commands would queue up behind the reconnect: skip this round.
    if (opts.redis.status !== 'ready') return;
    const snap: Snapshot = { ...labels, at: Date.now(), metrics: await processFamilies(opts.registry) };
    await opts.redis.hset(procsKey(opts.prefix), field, snapshotJson(snap));
  };
  const timer = setInterval(() => void publish().catch(() => undefined), PUBLISH_MS);
  timer.unref();
  void publish().catch(() => undefined);
  const publisher: MetricsPublisher = {
    labels,
    registry: opts.registry,
    redis: opts.redis,
    prefix: opts.prefix,
    publish,
    async stop() {
      clearInterval(timer);
      if (current === publisher) current = undefined;
      if (opts.redis.status !== 'ready') return;
      // Best effort, and never a reason to hold up a shutdown.
      await Promise.race([opts.redis.hdel(procsKey(opts.prefix), field).catch(() => undefined), new Promise((r) => setTimeout(r, 500).unref())]);
    },
  };
  current = publisher;
  return publisher;
}

/**
 * JSON writes NaN and ±Inf as null, which the text format cannot carry: one such sample makes
 * Prometheus refuse the whole scrape. Node's event-loop-lag gauges are NaN until a delay was
 * sampled (a process's first publish), a ratio of nothing is NaN: they go as 'NaN', '+Inf', '-Inf'.
 */
function snapshotJson(snap: Snapshot): string {
  return JSON.stringify(snap, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? formatValue(v) : v));
}

/** Every live process's snapshot (this process's own taken now), dropping stale ones. */
async function readSnapshots(p: MetricsPublisher, now = Date.now()): Promise<Snapshot[]> {
  const own: Snapshot = { ...p.labels, at: now, metrics: await processFamilies(p.registry) };
  const ownField = `${p.labels.role}|${p.labels.instance}`;
  const all = await p.redis.hgetall(procsKey(p.prefix));
  const out = [own];
  const stale: string[] = [];
  for (const [field, raw] of Object.entries(all)) {
    if (field === ownField) continue;
    let s: Snapshot;
    try {
      s = JSON.parse(raw) as Snapshot;
    } catch {
      stale.push(field);
      continue;
    }
    if (!Array.isArray(s.metrics) || now - Number(s.at) > STALE_MS) stale.push(field);
    else out.push(s);
  }
  if (stale.length) await p.redis.hdel(procsKey(p.prefix), ...stale);
  return out;
}

/**
 * The text exposition of the install: the install-wide gauges from `registry` (filled by the
 * scrape sources just before), then every process's own metrics with role and instance labels.
 * Without Redis, this process's own metrics only.
 */
export async function renderInstallMetrics(p: MetricsPublisher, opts: { redisUp?: boolean; omit?: ReadonlySet<string> } = {}): Promise<string> {
  const redisUp = opts.redisUp ?? true;
  const install = ((await p.registry.getMetricsAsJSON()) as unknown as Family[]).filter(
    (f) => INSTALL_METRICS.has(f.name) && (redisUp || WITHOUT_REDIS.has(f.name)) && !opts.omit?.has(f.name),
  );
  let snaps: Snapshot[];
  try {
    if (!redisUp) throw new Error('redis is down');
    snaps = await readSnapshots(p);
  } catch {
    snaps = [{ ...p.labels, at: Date.now(), metrics: await processFamilies(p.registry) }];
  }
  return renderFamilies(install, snaps);
}

/**
 * This process's registry alone (a web role not started through runRoles). Without Redis the
 * Redis-derived gauges are left out: their last values would read as current; so are the
 * families of a source that failed this scrape (`omit`).
 */
export async function renderOwnMetrics(registry: Registry, redisUp: boolean, omit: ReadonlySet<string> = new Set()): Promise<string> {
  const fams = ((await registry.getMetricsAsJSON()) as unknown as Family[]).filter((f) => !omit.has(f.name) && (redisUp || !INSTALL_METRICS.has(f.name) || WITHOUT_REDIS.has(f.name)));
  return renderFamilies(fams, []);
}

function renderFamilies(install: Family[], snaps: Snapshot[]): string {
  const families = new Map<string, { help: string; type: string; lines: string[] }>();
  const add = (f: Family, extra: Record<string, string>) => {
    let fam = families.get(f.name);
    if (!fam) families.set(f.name, (fam = { help: f.help, type: String(f.type), lines: [] }));
    for (const v of f.values) {
      const value = sampleValue(v.value);
      // Not a value Prometheus can parse (a null an older version published): the sample, not the scrape, goes.
      if (value !== undefined) fam.lines.push(sampleLine(v.metricName ?? f.name, { ...v.labels, ...extra }, value));
    }
  };
  for (const f of install) add(f, {});
  for (const s of snaps) for (const f of s.metrics) add(f, { role: s.role, instance: s.instance });
  let text = '';
  for (const [name, f] of families) {
    text += `# HELP ${name} ${escapeHelp(f.help)}\n# TYPE ${name} ${f.type}\n`;
    for (const l of f.lines) text += l + '\n';
  }
  return text;
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

const NON_FINITE = new Set(['NaN', '+Inf', '-Inf']);

function sampleValue(v: number | string | null): string | undefined {
  if (typeof v === 'number') return formatValue(v);
  return typeof v === 'string' && NON_FINITE.has(v) ? v : undefined;
}

function sampleLine(name: string, labels: Record<string, string | number | undefined>, value: string): string {
  const parts = Object.entries(labels)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}="${escapeLabel(typeof v === 'number' ? formatValue(v) : String(v))}"`);
  return parts.length ? `${name}{${parts.join(',')}} ${value}` : `${name} ${value}`;
}
