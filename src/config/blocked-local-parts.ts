// `policy.blockedLocalParts` (noreply, mailer-daemon, …) as one matcher for every stage that
// asks: who is never looked up (identity), never acknowledged nor mailed comments (deliver).
// Patterns are compiled once each; the schema refuses one that does not compile, so a bad one
// here (a config from elsewhere) matches nothing rather than throwing mid-job.
const compiled = new Map<string, RegExp | null>();

function pattern(source: string): RegExp | null {
  let re = compiled.get(source);
  if (re === undefined) {
    try {
      re = new RegExp(source, 'i');
    } catch {
      re = null;
    }
    compiled.set(source, re);
  }
  return re;
}

/** The first pattern the local part matches, if any. */
export function blockedLocalPart(patterns: readonly string[], local: string): string | undefined {
  return patterns.find((p) => pattern(p)?.test(local) === true);
}
