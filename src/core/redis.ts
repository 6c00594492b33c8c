// Redis connections, for every role, the CLI, the demo and the tests: one place that knows the
// three forms an install can point at (src/core/redis-target.ts parses them) and the options BullMQ
// needs for each. Workers need `maxRetriesPerRequest: null` (blocking commands must not fail
// while Redis restarts or fails over); short-lived CLI connections give up within seconds.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { describeTarget, parseRedisUrl, type RedisTarget } from './redis-target.js';

export type { Redis } from 'ioredis';
export { describeTarget, type RedisTarget } from './redis-target.js';

export interface ConnectOptions {
  /** A BullMQ worker/queue connection: commands wait for Redis instead of failing. */
  forWorker?: boolean;
  /** Shown in CLIENT LIST, so an operator can tell which process holds a connection. */
  name?: string;
  /**
   * A CLI connection: stop reconnecting (and fail every pending command) once Redis has not
   * answered for this long, so a command exits instead of waiting for a Redis that is down.
   */
  giveUpAfterMs?: number;
  /**
   * A CLI connection: fail a command that has had no answer for this long. A connection that is
   * up says nothing about the node a key lives on: in a Cluster, PING may go to one node while the
   * node that holds the install's slot has stopped answering (seen: `status` waited for ever).
   */
  commandTimeoutMs?: number;
}

/** What ioredis rejects a command with after `commandTimeout` (ioredis 5, Command.js). */
export const COMMAND_TIMED_OUT = 'Command timed out';

// Reconnect quickly but not in a hot loop: 50 ms, 100 ms, ... capped at 2 s.
const backoff = (times: number) => Math.min(times * 50, 2000);

// After a Sentinel failover (or a managed service's DNS switch) a connection can still point at
// the old primary, now a replica: a write answered READONLY means "reconnect and resend".
const reconnectOnReadonly = (err: Error) => (err.message.startsWith('READONLY') ? 2 : false);

/**
 * A connection to the install's Redis, whatever its form. A Cluster is returned under the
 * `Redis` type: it answers the same commands, and every key of an install shares one slot
 * (the `{hash-tagged}` prefix), so single-slot commands, MULTI and Lua work unchanged. Code
 * that must see every node (SCAN, INFO) uses `nodesOf`.
 */
export function createRedis(target: RedisTarget | string, opts: ConnectOptions = {}): Redis {
  const t = typeof target === 'string' ? parseRedisUrl(target) : target;
  const started = Date.now();
  let lastReady = started;
  // A CLI connection gives up when Redis has not been ready for giveUpAfterMs.
  const giveUp = () => opts.giveUpAfterMs !== undefined && Date.now() - lastReady >= opts.giveUpAfterMs;
  const retry = (times: number) => (giveUp() ? null : backoff(times));
  const common: RedisOptions = {
    connectionName: opts.name,
    maxRetriesPerRequest: opts.forWorker ? null : 3,
    enableReadyCheck: true,
    reconnectOnError: reconnectOnReadonly,
    // A host that drops packets must not hold a CLI command for the default 10 s.
    ...(opts.giveUpAfterMs !== undefined ? { connectTimeout: Math.max(500, Math.floor(opts.giveUpAfterMs / 2)) } : {}),
    ...(opts.commandTimeoutMs !== undefined ? { commandTimeout: opts.commandTimeoutMs } : {}),
  };
  let conn: Redis;
  switch (t.form) {
    case 'url':
      conn = new Redis(t.url, { ...common, retryStrategy: retry });
      break;
    case 'sentinel':
      conn = new Redis({
        ...common,
        sentinels: t.sentinels,
        name: t.masterName,
        role: 'master',
        username: t.username,
        password: t.password,
        sentinelUsername: t.sentinelUsername,
        sentinelPassword: t.sentinelPassword,
        db: t.db,
        ...(t.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
        // No `failoverDetector`: in ioredis 5.11 its disconnect on +switch-master can land while a
        // reconnect is asking the sentinels, and that ends the connection for good (seen in
        // test/e2e/redis-forms.test.ts). A failover is noticed when the old primary's socket
        // closes or answers READONLY; the reconnect then asks the sentinels for the new one.
        retryStrategy: retry,
        sentinelRetryStrategy: retry,
      });
      break;
    case 'cluster': {
      const options: ClusterOptions = {
        redisOptions: {
          connectionName: common.connectionName,
          maxRetriesPerRequest: common.maxRetriesPerRequest,
          reconnectOnError: reconnectOnReadonly,
          connectTimeout: common.connectTimeout,
          commandTimeout: common.commandTimeout,
          username: t.username,
          password: t.password,
          ...(t.tls ? { tls: {} } : {}),
        },
        enableReadyCheck: true,
        clusterRetryStrategy: retry,
        // Managed clusters (ElastiCache, MemoryDB) hand out TLS certificates for host names:
        // keep the names the slots map gives instead of resolving them to addresses.
        ...(t.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
      };
      conn = new Cluster(t.nodes, options) as unknown as Redis;
      break;
    }
  }
  conn.on('ready', () => (lastReady = Date.now()));
  // connectTimeout ends once TCP is up: a Redis that accepts the connection but never answers
  // (a stopped or hung server, a port that is not Redis) would hold a CLI connection in its
  // ready check for ever, and every command queued behind it. Drop such a socket once it has
  // not answered for giveUpAfterMs: its retry strategy then gives up and fails them all.
  if (opts.giveUpAfterMs !== undefined && t.form !== 'cluster') {
    const ms = opts.giveUpAfterMs;
    conn.on('connect', () => {
      const stream = conn.stream;
      setTimeout(() => {
        if (conn.status === 'connect' && conn.stream === stream) stream.destroy(new Error(`no answer within ${ms / 1000} s`));
      }, ms).unref();
    });
  }
  targets.set(conn, t);
  return conn;
}

const targets = new WeakMap<object, RedisTarget>();

/**
 * The connection BullMQ's Queue handles get for `redis`: a twin made once per connection, so
 * the key connection itself carries no Lua scripts. BullMQ defines its ~64 scripts on whatever
 * connection a Queue is given, and ioredis copies every defined script onto each MULTI or
 * pipeline made from that connection: measured here, a MULTI cost 0.24-0.27 ms of CPU on a
 * connection with BullMQ's scripts against 0.08-0.13 ms on a plain one, about a tenth of the
 * roles' CPU in a burst of mail (docs/benchmarks.md). The twin ends when `redis` does.
 */
export function queueConnection(redis: Redis): Redis {
  let twin = queueTwins.get(redis);
  if (twin) return twin;
  // Once `redis` has ended, the twin's next reconnect attempt is its last (see below).
  let parentEnded = redis.status === 'end';
  const unlessEnded = <A extends unknown[]>(strategy: ((...a: A) => number | void | null) | null | undefined) =>
    (...a: A) => (parentEnded ? null : strategy ? strategy(...a) : backoff(Number(a[0]) || 1));
  let made: Redis;
  if (isCluster(redis)) {
    const c = redis as unknown as Cluster;
    const name = c.options.redisOptions?.connectionName;
    made = c.duplicate(undefined, {
      clusterRetryStrategy: unlessEnded(c.options.clusterRetryStrategy),
      redisOptions: { ...c.options.redisOptions, ...(name ? { connectionName: `${name}-queues` } : {}) },
    }) as unknown as Redis;
  } else {
    const name = redis.options.connectionName;
    made = redis.duplicate({
      ...(name ? { connectionName: `${name}-queues` } : {}),
      retryStrategy: unlessEnded(redis.options.retryStrategy),
      sentinelRetryStrategy: unlessEnded(redis.options.sentinelRetryStrategy),
    });
  }
  // Errors are reported by whoever watches twins of `redis` (the role runtime's outage
  // watcher); never an unhandled 'error' event.
  made.on('error', () => undefined);
  // The twin ends when `redis` does. Connected: QUIT. Waiting to reconnect: left to its next
  // attempt, which its retry strategy now ends (with every command it holds rejected). In
  // ioredis 5 a disconnect() then would only clear the timer and leave it neither connected
  // nor ended, its commands never settled: a CLI command with Redis away then exited 13 with
  // "unsettled top-level await" instead of its one line (seen in test/e2e/redis-down.test.ts).
  const endTwin = () => {
    parentEnded = true;
    if (made.status === 'ready') made.quit().catch(() => made.disconnect());
    else if (made.status !== 'reconnecting') {
      made.disconnect();
      // Connected but never answered (a stopped Redis): disconnect() only half-closes the
      // socket, which then waits for a peer that never closes it, and the twin never ends.
      if (made.status === 'connect') made.stream.destroy();
    }
  };
  made.on('ready', () => {
    if (parentEnded) made.quit().catch(() => made.disconnect());
  });
  if (parentEnded) endTwin();
  else redis.once('end', endTwin);
  // A twin that gave up on its own (its parent lives on) is not handed out again: the next
  // queue gets a fresh one.
  made.once('end', () => {
    if (queueTwins.get(redis) === made) queueTwins.delete(redis);
  });
  const target = targets.get(redis);
  if (target) targets.set(made, target);
  queueTwins.set(redis, (twin = made));
  twinWatchers.get(redis)?.(made);
  return twin;
}
const queueTwins = new WeakMap<Redis, Redis>();
const twinWatchers = new WeakMap<Redis, (twin: Redis) => void>();

/** Call `watch` with each queue twin made for `redis` (the role runtime watches them for outages, and closes them). */
export function onQueueTwin(redis: Redis, watch: (twin: Redis) => void): void {
  twinWatchers.set(redis, watch);
  const twin = queueTwins.get(redis);
  if (twin) watch(twin);
}

/** The form a connection was made for (undefined for connections made elsewhere). */
export function targetOf(redis: Redis): RedisTarget | undefined {
  return targets.get(redis);
}

export function isCluster(redis: Redis): boolean {
  return (redis as unknown) instanceof Cluster;
}

/**
 * The data nodes behind a connection: each primary of a cluster, else the connection itself.
 * A cluster knows its primaries once it has loaded the slots map: call `whenReady` first.
 */
export function nodesOf(redis: Redis): Redis[] {
  return isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
}

/** Resolves once the connection is usable (a cluster: its slots map is loaded). */
export async function whenReady(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') await redis.ping();
}

/** host:port of the node a connection talks to right now (a cluster: every primary). */
export function currentNode(redis: Redis): string {
  return nodesOf(redis)
    .map((n) => {
      const s = (n as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
      return s?.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : `${n.options.host}:${n.options.port}`;
    })
    .join(',');
}

/**
 * Mailroom's own keys live under the same prefix as BullMQ's queues. A `{hash-tagged}` prefix
 * keeps all of an install's keys in one Redis Cluster slot, which BullMQ's Lua scripts need.
 */
export function key(prefix: string, ...parts: string[]): string {
  return [prefix, ...parts].join(':');
}

/** Each batch of keys under a prefix, node by node over every primary (SCAN, never KEYS, so Redis keeps serving). */
async function scanPrefix(redis: Redis, prefix: string, onBatch: (node: Redis, keys: string[]) => Promise<void>): Promise<void> {
  await whenReady(redis);
  const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  for (const node of nodesOf(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await onBatch(node, keys);
    } while (cursor !== '0');
  }
}

/** Delete every key under a prefix. */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  await scanPrefix(redis, prefix, async (node, keys) => {
    // One UNLINK per key: on a cluster a multi-key UNLINK must stay inside one slot, and a
    // prefix without a hash tag spreads its keys over many.
    const p = node.pipeline();
    for (const k of keys) p.unlink(k);
    const res = await p.exec();
    deleted += (res ?? []).reduce((n, [, v]) => n + (typeof v === 'number' ? v : 0), 0);
  });
  return deleted;
}

export { parseRedisTarget, parseRedisUrl } from './redis-target.js';

/** A connection's form and where it points, masked: for messages, status and /readyz. */
export const describeRedis = (redis: Redis): string => {
  const t = targetOf(redis);
  return t ? describeTarget(t) : `${redis.options.host}:${redis.options.port}`;
};
