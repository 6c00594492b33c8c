// Small numeric helpers and a plain-text table for the benchmark's report.

/** The p-th percentile (0..100) of the values, nearest-rank; undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (!values.length) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export interface Spread {
  n: number;
  p50: number | undefined;
  p95: number | undefined;
  p99: number | undefined;
  max: number | undefined;
}

export function spread(values: readonly number[]): Spread {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : undefined,
  };
}

/** p50, p99 and max of latencies in ms, each to 0.1 ms (0 for no values). */
export function latencyMs(values: readonly number[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  return {
    p50Ms: round(percentile(values, 50) ?? 0, 1),
    p99Ms: round(percentile(values, 99) ?? 0, 1),
    maxMs: round(values.length ? Math.max(...values) : 0, 1),
  };
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function perSec(count: number, ms: number): number {
  return ms > 0 ? round(count / (ms / 1000), 1) : 0;
}

/** Rows of cells as an aligned text table (first row is the header). */
export function table(rows: readonly (readonly (string | number | undefined)[])[]): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined ? '-' : String(c))));
  const widths: number[] = [];
  for (const r of cells) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const [head, ...body] = cells;
  if (!head) return '';
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
