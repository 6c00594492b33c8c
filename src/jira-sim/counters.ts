// What the simulator saw: requests by operation and status, and the things a good client
// must never do (each a "violation", with a short log of details for test failures).

export type ViolationKind =
  /** A request sent before a Retry-After the simulator gave had passed. */
  | 'earlyRetry'
  /** A create (user or customer) for an email that already has an account. */
  | 'createExisting'
  /** A create for an email whose last search was answered anonymously (bad token). */
  | 'createAfterAnonymousSearch'
  /** A request whose query or body breaks the OpenAPI schema. */
  | 'schema';

export interface Violation {
  kind: ViolationKind;
  operation: string;
  detail: string;
  at: string;
}

export interface CountersSnapshot {
  requests: Record<string, number>;
  violations: Record<ViolationKind, number>;
  violationLog: Violation[];
  /** Simulator replies that break the spec (a bug in the simulator, never the client's). */
  simProblems: string[];
}

/** Keep the detail log bounded: a runaway client must not grow the simulator's memory. */
const LOG_LIMIT = 500;

export class SimCounters {
  private requests = new Map<string, number>();
  private log: Violation[] = [];
  private totals: Record<ViolationKind, number> = { earlyRetry: 0, createExisting: 0, createAfterAnonymousSearch: 0, schema: 0 };
  readonly simProblems: string[] = [];

  request(operation: string, status: number): void {
    const k = `${operation} ${status}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  violation(kind: ViolationKind, operation: string, detail: string): void {
    this.totals[kind]++;
    if (this.log.length < LOG_LIMIT) this.log.push({ kind, operation, detail, at: new Date().toISOString() });
  }

  /** Requests seen, optionally for one operation and/or status (0 = connection dropped). */
  count(operation?: string, status?: number): number {
    let n = 0;
    for (const [k, v] of this.requests) {
      const [op, st] = k.split(' ');
      if ((operation === undefined || op === operation) && (status === undefined || Number(st) === status)) n += v;
    }
    return n;
  }

  violations(kind?: ViolationKind): number {
    if (kind) return this.totals[kind];
    return Object.values(this.totals).reduce((a, b) => a + b, 0);
  }

  violationLog(kind?: ViolationKind): Violation[] {
    return kind ? this.log.filter((v) => v.kind === kind) : [...this.log];
  }

  snapshot(): CountersSnapshot {
    return {
      requests: Object.fromEntries(this.requests),
      violations: { ...this.totals },
      violationLog: [...this.log],
      simProblems: [...this.simProblems],
    };
  }

  reset(): void {
    this.requests.clear();
    this.log = [];
    for (const k of Object.keys(this.totals) as ViolationKind[]) this.totals[k] = 0;
    this.simProblems.length = 0;
  }
}
