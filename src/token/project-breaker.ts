// The per-project breaker (kept with the token: it is what the token may do, per project): a
// project whose permission scheme refuses the workaround user (a 403
// on create, comments or properties there) would fail every mail sent to it, filling the failed
// set with hundreds of jobs for one missing tick box. After a few such refusals the project's
// deliveries are held (delayed, not failed) until the permission is granted; every other
// project, and every other queue, keeps going. State is in Redis, shared by all processes.
//
// Re-checks: a held job wakes at the breaker's next check time; one job (a Redis claim) asks
// GET /mypermissions with the project as context and closes the breaker when the permission is
// held again. The periodic token check and `mailroom token check` close it too (settleBreakers).
import { key, type Redis } from '../core/redis.js';

/** Refusals within FAILURE_WINDOW_S that open the breaker: more than one, so a permission flapping during an admin's edit does not hold a project. */
export const BREAKER_THRESHOLD = 3;
/** Refusals older than this are forgotten (the count's TTL while the breaker is closed). */
const FAILURE_WINDOW_S = 600;
/** How often a held project is re-checked: an admin who grants the permission sees mail flow within a minute, at one /mypermissions call per minute. */
export const BREAKER_RECHECK_MS = 60_000;

export interface BreakerState {
  project: string;
  open: boolean;
  failures: number;
  /** Jira's permission key (or what to grant, where Jira has none). */
  permission: string;
  /** The mailbox setting that points at the project. */
  configKey: string;
  detail: string;
  openedAt?: string;
  /** Epoch ms of the next re-check. */
  nextCheckAt?: number;
}

export function breakerKey(prefix: string, project: string): string {
  return key(prefix, 'deliver', 'breaker', project);
}

export function breakersKey(prefix: string): string {
  return key(prefix, 'deliver', 'breakers');
}

function claimKey(prefix: string, project: string): string {
  return key(prefix, 'deliver', 'breaker-check', project);
}

function parse(project: string, h: Record<string, string>): BreakerState | undefined {
  if (!h.failures && h.open !== '1') return undefined;
  return {
    project,
    open: h.open === '1',
    failures: Number(h.failures ?? 0),
    permission: h.permission ?? '?',
    configKey: h.configKey ?? '?',
    detail: h.detail ?? '',
    ...(h.openedAt ? { openedAt: h.openedAt } : {}),
    ...(h.nextCheckAt ? { nextCheckAt: Number(h.nextCheckAt) } : {}),
  };
}

export async function readBreaker(redis: Redis, prefix: string, project: string): Promise<BreakerState | undefined> {
  return parse(project, await redis.hgetall(breakerKey(prefix, project)));
}

/** The held projects, for /readyz, status and the metric. */
export async function openBreakers(redis: Redis, prefix: string): Promise<BreakerState[]> {
  const projects = await redis.smembers(breakersKey(prefix));
  const states = await Promise.all(projects.sort().map((p) => readBreaker(redis, prefix, p)));
  return states.filter((s): s is BreakerState => !!s?.open);
}

/** Count one permission refusal in a project; opens the breaker at the threshold. */
export async function recordRefusal(
  redis: Redis,
  prefix: string,
  r: { project: string; permission: string; configKey: string; detail: string },
  now = Date.now(),
  recheckMs = BREAKER_RECHECK_MS,
): Promise<BreakerState> {
  const k = breakerKey(prefix, r.project);
  const [[, failures]] = (await redis
    .multi()
    .hincrby(k, 'failures', 1)
    .hset(k, 'permission', r.permission, 'configKey', r.configKey, 'detail', r.detail.slice(0, 500))
    .exec()) as [[unknown, number], ...unknown[]];
  if (failures >= BREAKER_THRESHOLD) {
    // HSETNX: the first process to open it sets when; a later refusal does not push the check back.
    await redis.multi().hset(k, 'open', '1').hsetnx(k, 'openedAt', new Date(now).toISOString()).hsetnx(k, 'nextCheckAt', String(now + recheckMs)).persist(k).sadd(breakersKey(prefix), r.project).exec();
  } else {
    await redis.expire(k, FAILURE_WINDOW_S);
  }
  return (await readBreaker(redis, prefix, r.project))!;
}

/** One process (per re-check period) may ask Jira whether a held project's permission is back. */
export async function claimRecheck(redis: Redis, prefix: string, project: string, recheckMs = BREAKER_RECHECK_MS): Promise<boolean> {
  return (await redis.set(claimKey(prefix, project), '1', 'PX', Math.max(1000, recheckMs - 100), 'NX')) === 'OK';
}

/** Still refused: the next check is one period from now. */
export async function postponeRecheck(redis: Redis, prefix: string, project: string, now = Date.now(), recheckMs = BREAKER_RECHECK_MS): Promise<number> {
  const at = now + recheckMs;
  await redis.hset(breakerKey(prefix, project), 'nextCheckAt', String(at));
  return at;
}

export async function closeBreaker(redis: Redis, prefix: string, project: string): Promise<void> {
  await redis.multi().del(breakerKey(prefix, project)).srem(breakersKey(prefix), project).del(claimKey(prefix, project)).exec();
}

/**
 * After a token check that asked each configured project: close the breakers of projects
 * whose refused permission is now held. Returns the projects resumed.
 */
export async function settleBreakers(redis: Redis, prefix: string, projects: { project?: string; held: Record<string, boolean> }[]): Promise<string[]> {
  const resumed: string[] = [];
  for (const b of await openBreakers(redis, prefix)) {
    const seen = projects.find((p) => p.project === b.project);
    if (seen?.held[b.permission] === true) {
      await closeBreaker(redis, prefix, b.project);
      resumed.push(b.project);
    }
  }
  return resumed;
}

/** In words, for /readyz and `mailroom status`. */
export function breakerLine(open: BreakerState[]): string {
  if (!open.length) return 'projects: none held';
  return `projects held (degraded): ${open
    .map((b) => `${b.project} lacks ${b.permission} (${b.configKey}) since ${b.openedAt ?? '?'}${b.nextCheckAt ? `, next check ${new Date(b.nextCheckAt).toISOString()}` : ''}`)
    .join('; ')}`;
}
