// Wiring for a process whose workers need the workaround token: one call gives the token
// source (a Jira client on the current token), the gate (the workers' onAuthError hook) and,
// optionally, the periodic watch. The key is loaded and checked here, so a missing or bad key
// stops the process at start with a message saying what to do.
import { ms } from '../config/duration.js';
import type { Config } from '../config/load.js';
import { createJiraClient, type JiraClient } from '../jira/index.js';
import type { Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import { metrics } from '../core/metrics.js';
import { createJiraReachRecorder } from '../jira/reach.js';
import { gatedClientMaker, type RetryAfterObserver } from '../jira/retry-after.js';
import { createTokenGate, readTokenState, type TokenGate, type TokenState } from './gate.js';
import { daysLeft } from './input.js';
import { KeyMismatchError, loadSecretKey, type SecretKey } from './key.js';
import { createTokenSource, type TokenSource } from './source.js';
import { readTokenMeta, type TokenCredentials } from './store.js';
import { startTokenWatch, type TokenWatch } from './watch.js';

export interface TokenRuntime {
  source: TokenSource<JiraClient>;
  gate: TokenGate;
  /** Pass as WorkerDeps.onAuthError. */
  onAuthError: TokenGate['onAuthError'];
  watch?: TokenWatch;
  secretKey: SecretKey;
  close(): Promise<void>;
}

export interface TokenRuntimeDeps {
  /** A normal connection (the gate duplicates it for pub/sub). */
  connection: Redis;
  config: Config;
  logger: Logger;
  /** Run the periodic check in this process (one role is enough; any number is harmless). */
  watch?: boolean;
  /** Override the client factory (default: createJiraClient on config.jira). */
  makeClient?: (creds: TokenCredentials) => JiraClient;
  /** Sees every Jira request the site's Retry-After gate lets through and every window it opens. */
  retryAfterObserver?: RetryAfterObserver;
}

/**
 * Clients on the stored token. With `redis`, every client sits behind the site's shared
 * Retry-After gate, so nothing that uses the token (workers, the periodic check, the /readyz
 * probe, the notifier) sends a request inside a window Jira asked any process to wait out.
 */
export type JiraClientFactory = ((creds: TokenCredentials) => JiraClient) & {
  /** Stop listening for other processes' Retry-After windows. */
  close(): Promise<void>;
};

export function jiraClientFactory(config: Config, logger?: Logger, redis?: Redis, o: { observer?: RetryAfterObserver } = {}): JiraClientFactory {
  // Listening: a window another process read is known here before this process's next check.
  const gatedClients = redis ? gatedClientMaker({ redis, prefix: config.prefix, site: config.jira.site, listen: true, observer: o.observer }) : undefined;
  const baseUrl = config.jira.apiBase ?? config.jira.site;
  // Every answer (or none) feeds the shared reachability record: /readyz, status, metrics.
  const reach = redis ? createJiraReachRecorder({ redis, prefix: config.prefix, url: baseUrl }) : undefined;
  const make = (creds: TokenCredentials) => {
    const opts = {
      baseUrl,
      email: creds.email,
      token: creds.token,
      timeoutMs: ms(config.jira.timeout),
      logger,
      onResponse: (info: { operation: string; status: number }) => {
        metrics.jiraRequests.inc({ operation: info.operation, status: info.status === 0 ? 'network' : String(info.status) });
        reach?.observe(info);
      },
    };
    return gatedClients ? gatedClients.make(opts) : createJiraClient(opts);
  };
  return Object.assign(make, { close: async () => gatedClients?.gate.close() });
}

export function startTokenRuntime(deps: TokenRuntimeDeps): TokenRuntime {
  const { connection, config, logger } = deps;
  const secretKey = loadSecretKey(config.secretKey);
  for (const w of secretKey.warnings) logger.warn(w);
  const factory = deps.makeClient ? undefined : jiraClientFactory(config, logger, connection, { observer: deps.retryAfterObserver });
  const makeClient = deps.makeClient ?? factory!;
  const source = createTokenSource({ redis: connection, prefix: config.prefix, secretKey, makeClient });
  const gate = createTokenGate({
    connection,
    prefix: config.prefix,
    logger,
    onEvent: (e) => {
      if (e.type === 'stored' || e.type === 'cleared') source.invalidate();
    },
  });
  const watch = deps.watch ? startTokenWatch({ redis: connection, config, secretKey, logger, makeClient }) : undefined;
  return {
    source,
    gate,
    onAuthError: gate.onAuthError,
    watch,
    secretKey,
    async close() {
      await watch?.stop();
      await gate.close();
      await factory?.close();
    },
  };
}

/**
 * Refuse to start a process whose key cannot decrypt the stored token (KeyMismatchError,
 * naming both key ids). Checked before any worker runs, so such a process never takes a job
 * and never touches the shared pause state. No token stored yet: nothing to check.
 */
export async function assertKeyOpensStoredToken(redis: Redis, prefix: string, secretKey: SecretKey): Promise<void> {
  const meta = await readTokenMeta(redis, prefix);
  if (meta?.keyId && meta.keyId !== secretKey.id) throw new KeyMismatchError(secretKey.id, meta.keyId, secretKey.source);
}

/** startTokenRuntime, after checking that this process's key opens the stored token. */
export async function openTokenRuntime(deps: TokenRuntimeDeps): Promise<TokenRuntime> {
  await assertKeyOpensStoredToken(deps.connection, deps.config.prefix, loadSecretKey(deps.config.secretKey));
  return startTokenRuntime(deps);
}

export interface TokenHealth {
  /** A token is stored, the gate is not tripped, and it has not expired. */
  ok: boolean;
  stored: boolean;
  paused: boolean;
  /** Why the queues are paused (for /readyz and logs), never the token. */
  reason?: string;
  since?: string;
  daysLeft?: number;
  expiresAt?: string;
  lastCheckOk?: boolean;
  lastCheckAt?: string;
  gate: TokenState;
}

/** For /readyz and /metrics: what the token's state is, from Redis, without the key. */
export async function readTokenHealth(redis: Redis, prefix: string, now = new Date()): Promise<TokenHealth> {
  const [meta, gate] = await Promise.all([readTokenMeta(redis, prefix), readTokenState(redis, prefix)]);
  const left = meta ? daysLeft(new Date(meta.expiresAt), now) : undefined;
  const expired = meta ? new Date(meta.expiresAt).getTime() <= now.getTime() : false;
  return {
    ok: !!meta && !gate.paused && !expired,
    stored: !!meta,
    paused: gate.paused,
    reason: gate.paused ? gate.reason : meta ? undefined : 'no workaround token is stored',
    since: gate.since,
    daysLeft: left,
    expiresAt: meta?.expiresAt,
    lastCheckOk: meta?.lastCheck?.ok,
    lastCheckAt: meta?.lastCheck?.at,
    gate,
  };
}
