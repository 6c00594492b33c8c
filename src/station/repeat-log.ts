// A worker's retry lines when many jobs fail alike (Jira down, a 503 storm, a proxy refusing):
// the first line of a reason in a minute at warn, the rest at debug, and the next warn of that
// reason says how many it stood for (`alike`). Every attempt is still in its job's story
// (Bull Board, Logs tab) and at debug; one line a minute per reason is what an outage is worth.
const WINDOW_MS = 60_000;
/** Reasons remembered at once: a flood of distinct reasons starts over rather than grow. */
const MAX_REASONS = 500;

export interface RepeatVerdict {
  loud: boolean;
  /** Lines of this reason said at debug since its last warn. */
  alike?: number;
}

export function repeatGate(windowMs = WINDOW_MS): (reason: string, now?: number) => RepeatVerdict {
  const seen = new Map<string, { at: number; quiet: number }>();
  return (reason, now = Date.now()) => {
    const k = reason.slice(0, 500);
    const s = seen.get(k);
    if (s && now - s.at < windowMs) {
      s.quiet++;
      return { loud: false };
    }
    if (!s && seen.size >= MAX_REASONS) seen.clear();
    seen.set(k, { at: now, quiet: 0 });
    return s?.quiet ? { loud: true, alike: s.quiet } : { loud: true };
  };
}
