// The token gate: the first AuthError from any worker, in any process, pauses every queue that
// needs the workaround token and records why; storing a valid token resumes them.
//
// Redis, under the install's prefix:
//   <prefix>:token:state          hash  paused 1|0, reason, since, queue, jobId, tokenVersion, ...
//   <prefix>:token:state:queues   set   the queues the gate paused (only those are resumed, so a
//                                       queue an operator paused by hand stays paused)
//   <prefix>:token:events         pub/sub channel: {"type":"paused"|"resumed"|"stored"|"cleared"}
//
// BullMQ's Queue.pause() is global (a flag in Redis), so one process pausing stops every
// worker everywhere from fetching. Jobs already fetched elsewhere are held by the token source
// (source.ts), which reads the gate before every job and refuses to hand out a token known to
// be bad, so no Jira call is made with it. The pub/sub channel keeps each process's local view
// (for /readyz, metrics and logs) current within milliseconds; a poll backs it up.
import type { Job, Queue } from 'bullmq';
import type { AuthError } from '../core/errors.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { key, type Redis } from '../core/redis.js';
import { queueNamed } from '../queues/queue.js';
import { tokenQueues } from '../queues/catalog.js';
import { isConnectionError } from '../core/redis-outage.js';
import { tokenKey } from './store.js';
import { TokenPausedError, tokenVersionOf } from './errors.js';

export function stateKey(prefix: string): string {
  return key(prefix, 'token', 'state');
}
export function pausedQueuesKey(prefix: string): string {
  return key(prefix, 'token', 'state', 'queues');
}
export function eventsChannel(prefix: string): string {
  return key(prefix, 'token', 'events');
}

export interface TokenState {
  paused: boolean;
  /** Why the gate tripped: the AuthError's message (never the token). */
  reason?: string;
  since?: string;
  /** The queue and job that met the failure first. */
  queue?: string;
  jobId?: string;
  /** Version of the token that failed (store.ts). */
  tokenVersion?: number;
  /** Queues the gate paused and will resume. */
  pausedQueues: string[];
  resumedAt?: string;
  resumedBecause?: string;
}

export type TokenEvent = { type: 'paused' | 'resumed' | 'stored' | 'cleared'; version?: number; reason?: string };

/** The gate's state as recorded in Redis (for /readyz, metrics, `mailroom token status`). */
export async function readTokenState(redis: Redis, prefix: string): Promise<TokenState> {
  const [h, queues] = await Promise.all([redis.hgetall(stateKey(prefix)), redis.smembers(pausedQueuesKey(prefix))]);
  return {
    paused: h.paused === '1',
    reason: h.reason || undefined,
    since: h.since || undefined,
    queue: h.queue || undefined,
    jobId: h.jobId || undefined,
    tokenVersion: h.tokenVersion ? Number(h.tokenVersion) : undefined,
    pausedQueues: queues.sort(),
    resumedAt: h.resumedAt || undefined,
    resumedBecause: h.resumedBecause || undefined,
  };
}

// KEYS[1] token hash, KEYS[2] state hash.
// ARGV[1] version of the token that failed ('' = unknown), [2] reason, [3] since, [4] queue, [5] jobId.
// A failure of a token that has since been replaced is stale: the job simply retries on the new one.
const TRIP = `
local cur = redis.call('HGET', KEYS[1], 'version') or '0'
if ARGV[1] ~= '' and ARGV[1] ~= cur then return 'stale' end
if redis.call('HGET', KEYS[2], 'paused') == '1' then return 'already' end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'paused', '1', 'reason', ARGV[2], 'since', ARGV[3], 'queue', ARGV[4], 'jobId', ARGV[5], 'tokenVersion', cur)
return 'tripped'`;

// KEYS[1] state hash, KEYS[2] paused-queues set. ARGV[1] when, ARGV[2] why.
// Returns the queues to resume (empty when the gate was not paused).
const RESUME = `
if redis.call('HGET', KEYS[1], 'paused') ~= '1' then return {} end
local q = redis.call('SMEMBERS', KEYS[2])
redis.call('HSET', KEYS[1], 'paused', '0', 'resumedAt', ARGV[1], 'resumedBecause', ARGV[2])
redis.call('DEL', KEYS[2])
return q`;

export type TripResult = 'tripped' | 'already' | 'stale';

export interface TripInput {
  reason: string;
  queue?: string;
  jobId?: string;
  /** Version of the token the failing call used, when known: a stale version never trips. */
  failedVersion?: number;
  now?: Date;
}

/** Open Queue handles for every queue that needs the token (sharing `connection`). */
export function openTokenQueues(connection: Redis, prefix: string): Queue[] {
  return tokenQueues.map((def) => queueNamed(def.name, connection, prefix));
}

/**
 * Record the failure and pause the token's queues. Safe to call from many workers at once:
 * one call trips; the others see 'already' (and make sure the queues are paused) or 'stale'.
 */
export async function tripGate(redis: Redis, prefix: string, queues: Queue[], input: TripInput): Promise<TripResult> {
  const now = input.now ?? new Date();
  const result = (await redis.eval(
    TRIP,
    2,
    tokenKey(prefix),
    stateKey(prefix),
    input.failedVersion === undefined ? '' : String(input.failedVersion),
    input.reason.slice(0, 500),
    now.toISOString(),
    input.queue ?? '',
    input.jobId ?? '',
  )) as TripResult;
  if (result === 'stale') return result;
  // Tripped, or already tripped: make sure every token queue is paused (a process that died
  // between recording and pausing, or an operator resuming one by hand, would otherwise leave
  // a queue running into a token that is known to be bad).
  await pauseAll(redis, prefix, queues);
  if (result === 'tripped') await publish(redis, prefix, { type: 'paused', reason: input.reason.slice(0, 500) });
  return result;
}

// KEYS[1] state hash, KEYS[2] paused-queues set. ARGV[1] queue name. 1 when recorded, 0 when
// the gate is no longer paused (resumed meanwhile by a stored token): then nothing to pause.
const MARK_PAUSED = `
if redis.call('HGET', KEYS[1], 'paused') ~= '1' then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
return 1`;

/**
 * Pause the token queues the gate is tripped for. Each queue is recorded before it is paused
 * (a process dying in between leaves a name that resuming handles harmlessly, never a paused
 * queue the gate does not know of), and only while the gate is still paused; a resume that
 * lands between recording and pausing is undone here, since it could not resume a queue that
 * was not paused yet.
 */
async function pauseAll(redis: Redis, prefix: string, queues: Queue[]): Promise<void> {
  for (const q of queues) {
    if (await q.isPaused()) continue;
    if (!(await redis.eval(MARK_PAUSED, 2, stateKey(prefix), pausedQueuesKey(prefix), q.name))) return;
    await q.pause();
    if ((await redis.hget(stateKey(prefix), 'paused')) !== '1') {
      await q.resume();
      return;
    }
  }
}

/** While the gate is tripped, make sure every token queue is paused; never trips it. */
export async function ensurePaused(redis: Redis, prefix: string, queues: Queue[]): Promise<void> {
  if ((await redis.hget(stateKey(prefix), 'paused')) === '1') await pauseAll(redis, prefix, queues);
}

/** Clear the gate and resume the queues it paused. Returns their names (empty if it was not paused). */
export async function resumeGate(redis: Redis, prefix: string, queues: Queue[], because: string, now = new Date()): Promise<string[]> {
  const names = (await redis.eval(RESUME, 2, stateKey(prefix), pausedQueuesKey(prefix), now.toISOString(), because)) as string[];
  for (const q of queues) if (names.includes(q.name)) await q.resume();
  if (names.length) await publish(redis, prefix, { type: 'resumed', reason: because });
  return names;
}

export async function publish(redis: Redis, prefix: string, event: TokenEvent): Promise<void> {
  await redis.publish(eventsChannel(prefix), JSON.stringify(event));
}

export interface TokenGateDeps {
  /** A normal (non-subscriber) connection; the gate duplicates it for pub/sub. */
  connection: Redis;
  prefix: string;
  logger: Logger;
  /** Queue handles to pause/resume; default: every queue whose definition needs the token. */
  queues?: Queue[];
  /** How often the local view is re-read from Redis, besides pub/sub (ms). */
  pollMs?: number;
  /** Called on every event (own or another process's): e.g. to drop cached credentials. */
  onEvent?: (e: TokenEvent) => void;
}

export interface TokenGate {
  /** The worker hook (WorkerDeps.onAuthError). */
  onAuthError(err: AuthError, job: Job): Promise<void>;
  /** The local view: true while the token's queues are paused for an auth failure. */
  isPaused(): boolean;
  state(): TokenState;
  /** Re-read the state from Redis now. */
  refresh(): Promise<TokenState>;
  /** Resolves once subscribed to the events channel. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export function createTokenGate(deps: TokenGateDeps): TokenGate {
  const { connection, prefix, logger } = deps;
  const log = logger.child({ component: 'token-gate' });
  const ownQueues = !deps.queues;
  const queues = deps.queues ?? openTokenQueues(connection, prefix);
  let current: TokenState = { paused: false, pausedQueues: [] };
  let closed = false;

  const refresh = async (): Promise<TokenState> => {
    const next = await readTokenState(connection, prefix);
    if (next.paused !== current.paused) {
      if (next.paused) log.error({ reason: next.reason, since: next.since }, 'the token queues are paused until a valid token is stored');
      else log.info({ because: next.resumedBecause }, 'the token queues are resumed');
    }
    current = next;
    return current;
  };

  const sub = connection.duplicate();
  const subscribed = sub.subscribe(eventsChannel(prefix)).then(() => undefined);
  sub.on('message', (_channel: string, message: string) => {
    let event: TokenEvent | undefined;
    try {
      event = JSON.parse(message) as TokenEvent;
    } catch {
      return;
    }
    deps.onEvent?.(event);
    refresh().catch((e) => log.warn({ err: describeError(e) }, 'could not read the token state'));
  });
  // While Redis is away each reconnect attempt is an error: the role's connections report the
  // outage once (src/core/redis-outage.ts); only other errors are worth a line here.
  sub.on('error', (e) => {
    if (!isConnectionError(e)) log.warn({ err: describeError(e) }, 'token events subscription error');
  });
  // Pub/sub messages are lost while a connection is down: the poll catches up.
  const timer = setInterval(() => {
    refresh().catch((e) => log.warn({ err: describeError(e) }, 'could not read the token state'));
  }, deps.pollMs ?? 5000);
  timer.unref();
  void refresh().catch(() => undefined);

  return {
    async onAuthError(err, job) {
      if (err instanceof TokenPausedError) {
        // Held by the gate already, not a new failure; only make sure the queues stay paused
        // so the job is not fetched again at once (it never trips the gate anew).
        await ensurePaused(connection, prefix, queues);
        return;
      }
      const result = await tripGate(connection, prefix, queues, {
        reason: describeError(err),
        queue: job.queueName,
        jobId: job.id,
        failedVersion: tokenVersionOf(err),
      });
      if (result === 'tripped') {
        log.error({ queue: job.queueName, jobId: job.id, reason: describeError(err), queues: queues.map((q) => q.name) }, 'paused the token queues');
      } else if (result === 'stale') {
        log.info({ jobId: job.id }, 'auth failure with a token that has since been replaced: retrying on the new one');
      }
      await refresh();
    },
    isPaused: () => current.paused,
    state: () => current,
    refresh,
    ready: () => subscribed,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await sub.quit().catch(() => sub.disconnect());
      if (ownQueues) await Promise.all(queues.map((q) => q.close()));
    },
  };
}
