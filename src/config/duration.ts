const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** '500ms' | '30s' | '5m' | '6h' | '7d' → milliseconds. The schema has already checked the form. */
export function ms(duration: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(duration.trim());
  if (!m) throw new Error(`not a duration: "${duration}" (use e.g. 500ms, 30s, 5m, 6h, 7d)`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** Parse a CLI duration such as `2h` or `7d` into milliseconds, with a message fit for a person. */
export function parseDurationArg(value: string, what = 'duration'): number {
  try {
    return ms(value);
  } catch {
    throw new Error(`${what} "${value}" is not a duration: use a number and a unit, e.g. 30m, 2h, 7d`);
  }
}
