// One log line when Redis goes away and one when it is back, however many connections, queues
// and workers a process holds and however often they retry. Every reconnect attempt is an
// 'error' event on every connection (and echoed by each BullMQ Queue and Worker): logging each
// would bury the news, so the connections a role opens report here and the echoes are dropped.
import type { Logger } from './log.js';
import { describeError } from './errors.js';

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
const CONNECTION_MESSAGES =
  /Connection is closed|connect ETIMEDOUT|All sentinels are unreachable|Failed to refresh slots cache|None of startup nodes|Reached the max retries per request|^(READONLY|LOADING|CLUSTERDOWN|MASTERDOWN|TRYAGAIN)\b|Stream isn't writeable|socket (hang up|closed)/i;

/** Pure: is this error Redis being away (or failing over), rather than a bug or a bad command? */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  const lastNodeError = (e as { lastNodeError?: unknown } | undefined)?.lastNodeError;
  if (lastNodeError && isConnectionError(lastNodeError)) return true;
  return CONNECTION_MESSAGES.test(describeError(e));
}

export interface RedisOutageState {
  down: boolean;
  /** When the current outage began (ms since epoch). */
  since?: number;
  lastError?: string;
}

export interface OutageSource {
  on(event: 'error', listener: (e: unknown) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

export class RedisOutage {
  private readonly failing = new Set<OutageSource>();
  private state: RedisOutageState = { down: false };

  constructor(
    private readonly logger: Pick<Logger, 'warn' | 'info' | 'error'>,
    /** The masked form and nodes, named in both lines. */
    private readonly target: string,
    private readonly now: () => number = Date.now,
  ) {}

  current(): RedisOutageState {
    return { ...this.state };
  }

  watch(conn: OutageSource): void {
    conn.on('error', (e: unknown) => this.failed(conn, e));
    conn.on('ready', () => this.recovered(conn));
  }

  failed(conn: OutageSource, e: unknown): void {
    if (!isConnectionError(e)) {
      this.logger.error({ redis: this.target, err: describeError(e) }, 'redis error');
      return;
    }
    this.failing.add(conn);
    this.state.lastError = describeError(e).split('\n')[0];
    if (this.state.down) return;
    this.state = { down: true, since: this.now(), lastError: this.state.lastError };
    this.logger.warn({ redis: this.target, err: this.state.lastError }, 'redis unreachable: work waits until it is back');
  }

  recovered(conn: OutageSource): void {
    this.failing.delete(conn);
    if (!this.state.down || this.failing.size) return;
    const downMs = this.now() - (this.state.since ?? this.now());
    this.state = { down: false };
    this.logger.info({ redis: this.target, downMs }, 'redis reachable again');
  }
}
