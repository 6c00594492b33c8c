// Fault injection: latency with jitter, a 5xx rate, 429/503 bursts with Retry-After, dropped
// connections and hung requests. One-shot faults apply to the next matching requests.
import { seededRandom } from './state.js';

export interface FaultSettings {
  latencyMs: number;
  jitterMs: number;
  /** Share of requests (0..1) answered with 500/502/503 (no Retry-After). */
  errorRate: number;
  /** Limit the error rate to these operations (all when absent). */
  errorOperations?: string[];
  /**
   * Share of requests (0..1) that are carried out (the issue is stored) and then fail: half get
   * a 500/502/503 answer, half a dropped connection. Jira Cloud does this when a create commits
   * and the gateway times out; the client cannot tell whether it happened.
   */
  writeFailRate?: number;
  /** Limit writeFailRate to these operations (all when absent). */
  writeFailOperations?: string[];
}

export interface RateLimitFault {
  /** How many requests get the limited answer. */
  count?: number;
  retryAfterSec?: number;
  status?: 429 | 503;
  /** Send Retry-After as an HTTP date instead of seconds. */
  asDate?: boolean;
  /**
   * Jira's RateLimit-Reason. Default jira-quota-global-based (holds the site); jira-burst-based
   * holds the endpoint and method, jira-per-issue-on-write the issue written to
   * (docs/jira-simulator.md cites Atlassian's table).
   */
  reason?: string;
  operation?: string;
  /** Only requests on this issue (key or id, as in the path) get the limited answer. */
  issue?: string;
}

/** An answer the simulator gives for a reason it does not model itself (see `refuse`). */
export interface RefusalFault {
  operation: string;
  /** The status answered (default 403). */
  status?: number;
  /** Jira's words: `errorMessage` on JSM routes, `errorMessages[0]` on platform ones. */
  message?: string;
  count?: number;
  /** Only requests on this issue (key or id, as in the path). */
  issue?: string;
}

export type Decision =
  | { kind: 'pass' }
  | { kind: 'refuse'; status: number; message: string }
  | { kind: 'drop' }
  | { kind: 'hang' }
  | { kind: 'stall' }
  | { kind: 'loseReply' }
  | { kind: 'errorAfterWrite'; status: number }
  | { kind: 'error'; status: number }
  | { kind: 'rateLimit'; status: number; retryAfterSec: number; asDate: boolean; reason: string };

interface OneShot {
  kind: 'drop' | 'hang' | 'stall' | 'loseReply' | 'errorAfterWrite' | 'rateLimit' | 'refuse';
  remaining: number;
  operation?: string;
  issue?: string;
  status?: number;
  message?: string;
  rate?: Required<Omit<RateLimitFault, 'count' | 'operation' | 'issue'>>;
}

export class SimFaults {
  settings: FaultSettings;
  private queue: OneShot[] = [];
  private rand: () => number;

  constructor(
    private readonly defaults: Partial<FaultSettings> = {},
    private readonly seed = 1,
  ) {
    this.settings = { latencyMs: 0, jitterMs: 0, errorRate: 0, ...defaults };
    this.rand = seededRandom(seed ^ 0x5eed);
  }

  set(s: Partial<FaultSettings>): void {
    this.settings = { ...this.settings, ...s };
  }

  /** The next `count` matching requests are answered 429 (or 503) with Retry-After. */
  rateLimit(f: RateLimitFault = {}): void {
    const one: OneShot = {
      kind: 'rateLimit',
      remaining: f.count ?? 1,
      rate: { retryAfterSec: f.retryAfterSec ?? 1, status: f.status ?? 429, asDate: f.asDate ?? false, reason: f.reason ?? 'jira-quota-global-based' },
    };
    if (f.operation) one.operation = f.operation;
    if (f.issue) one.issue = f.issue.toUpperCase();
    this.queue.push(one);
  }

  /**
   * The next `count` requests of `operation` are refused (default 403) without being carried out:
   * for an answer Jira may give for a reason the simulator does not model (a JSM rule, an app's
   * restriction). Prefer a modelled reason (a permission, a status property) where one exists.
   */
  refuse(f: RefusalFault): void {
    const one: OneShot = { kind: 'refuse', remaining: f.count ?? 1, operation: f.operation, status: f.status ?? 403, message: f.message ?? 'You do not have permission to do this (simulated refusal).' };
    if (f.issue) one.issue = f.issue.toUpperCase();
    this.queue.push(one);
  }

  /** The next `count` matching requests have their connection destroyed without an answer. */
  drop(count = 1, operation?: string): void {
    this.queue.push({ kind: 'drop', remaining: count, ...(operation ? { operation } : {}) });
  }

  /** The next `count` matching requests are never answered (until the simulator closes). */
  hang(count = 1, operation?: string): void {
    this.queue.push({ kind: 'hang', remaining: count, ...(operation ? { operation } : {}) });
  }

  /** The next `count` matching requests get a 200 status line and half a body, then nothing. */
  stall(count = 1, operation?: string): void {
    this.queue.push({ kind: 'stall', remaining: count, ...(operation ? { operation } : {}) });
  }

  /**
   * The next `count` matching requests are carried out (an issue is created...) but the
   * connection is destroyed instead of answering: the client cannot tell whether it happened.
   */
  loseReply(count = 1, operation?: string): void {
    this.queue.push({ kind: 'loseReply', remaining: count, ...(operation ? { operation } : {}) });
  }

  /**
   * The next `count` matching requests are carried out, then answered with `status` (5xx): the
   * write happened, the answer says it failed.
   */
  failAfterWrite(count = 1, operation?: string, status = 500): void {
    this.queue.push({ kind: 'errorAfterWrite', remaining: count, status, ...(operation ? { operation } : {}) });
  }

  clear(): void {
    this.queue = [];
    this.settings = { latencyMs: 0, jitterMs: 0, errorRate: 0, ...this.defaults };
    this.rand = seededRandom(this.seed ^ 0x5eed);
  }

  delayMs(): number {
    const { latencyMs, jitterMs } = this.settings;
    return Math.max(0, latencyMs + (jitterMs ? (this.rand() * 2 - 1) * jitterMs : 0));
  }

  /** `issue`: the issue in the request's path (key or id as sent), for faults limited to one issue. */
  decide(operation: string, issue?: string): Decision {
    const up = issue?.toUpperCase();
    const i = this.queue.findIndex((f) => (!f.operation || f.operation === operation) && (!f.issue || f.issue === up));
    if (i >= 0) {
      const f = this.queue[i]!;
      if (--f.remaining <= 0) this.queue.splice(i, 1);
      if (f.kind === 'rateLimit') return { kind: 'rateLimit', ...f.rate! };
      if (f.kind === 'errorAfterWrite') return { kind: 'errorAfterWrite', status: f.status ?? 500 };
      if (f.kind === 'refuse') return { kind: 'refuse', status: f.status ?? 403, message: f.message ?? '' };
      return { kind: f.kind };
    }
    const { errorRate, errorOperations, writeFailRate, writeFailOperations } = this.settings;
    if (writeFailRate && writeFailRate > 0 && (!writeFailOperations || writeFailOperations.includes(operation)) && this.rand() < writeFailRate) {
      return this.rand() < 0.5 ? { kind: 'loseReply' } : { kind: 'errorAfterWrite', status: [500, 502, 503][Math.floor(this.rand() * 3)]! };
    }
    if (errorRate > 0 && (!errorOperations || errorOperations.includes(operation)) && this.rand() < errorRate) {
      return { kind: 'error', status: [500, 502, 503][Math.floor(this.rand() * 3)]! };
    }
    return { kind: 'pass' };
  }
}
