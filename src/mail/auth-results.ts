// The receiving server's verdict on the sender (RFC 8601 Authentication-Results), read only from
// headers whose authserv-id is one the configuration names: anyone can write an
// Authentication-Results header into the mail they send, only our receiving host prepends one
// with its own id on top. Pure.

/**
 * Authentication-Results headers kept per mail (topmost first: the receiving host's is on top,
 * internal hops may add theirs above it), each in its compact form (compactAuthResults).
 */
export const MAX_AUTH_RESULTS = 10;
export const AUTH_RESULT_CHARS = 600;

export type SenderVerdict =
  /** DMARC passed, or nothing failed and SPF or DKIM passed. */
  | { result: 'pass'; detail: string }
  /** DMARC, SPF, or every DKIM signature failed: the From is not to be believed. */
  | { result: 'fail'; detail: string }
  /** No header from a trusted host, or one that says nothing conclusive. */
  | { result: 'none'; detail: string };

/** `mx.example.com; dmarc=fail (p=reject) header.from=x` -> authserv-id and method results. */
export function parseAuthResults(value: string): { authservId: string; results: Array<{ method: string; result: string }> } {
  const text = structure(value);
  const [head = '', ...rest] = text.split(';');
  const authservId = head.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  const results: Array<{ method: string; result: string }> = [];
  for (const part of rest) {
    const m = /^\s*([a-z0-9_-]+)(?:\/[0-9]+)?\s*=\s*([a-z0-9_-]+)/i.exec(part);
    if (m) results.push({ method: m[1]!.toLowerCase(), result: m[2]!.toLowerCase() });
  }
  // Fail closed: a failure written anywhere in the header counts, even where a malformed value
  // (an unclosed comment or quote) hid it from the parse above. Only a failure is read this
  // way, so text a sender placed in a value can make its own mail fail, never pass.
  for (const m of value.matchAll(/(?:^|[\s;(])(dmarc|spf)\s*=\s*fail\b/gi)) {
    const method = m[1]!.toLowerCase();
    if (!results.some((r) => r.method === method && r.result === 'fail')) results.push({ method, result: 'fail' });
  }
  return { authservId, results };
}

/**
 * A header as kept in the mail record: the authserv-id and each distinct `method=result`, nothing
 * else. Cut only after that: a sender who adds many DKIM signatures lengthens the receiving
 * host's header with one `dkim=pass` each, and a text prefix would then lose the `spf=fail` and
 * `dmarc=fail` written after them.
 */
export function compactAuthResults(value: string): string {
  const { authservId, results } = parseAuthResults(value);
  const pairs = [...new Set(results.map((r) => `${r.method}=${r.result}`))];
  return [authservId, ...pairs].join('; ').slice(0, AUTH_RESULT_CHARS);
}

/**
 * The verdict from the topmost header whose authserv-id is trusted. Headers below it, and
 * headers with other ids, are the sender's claims and are ignored.
 */
export function senderVerdict(values: readonly string[] | undefined, trustedIds: readonly string[]): SenderVerdict {
  if (!trustedIds.length) return { result: 'none', detail: 'no authservIds configured: Authentication-Results are not read' };
  const ids = new Set(trustedIds.map((s) => s.trim().toLowerCase()));
  const ours = (values ?? []).map(parseAuthResults).find((h) => ids.has(h.authservId));
  if (!ours) return { result: 'none', detail: `no Authentication-Results from ${[...ids].join(', ')}` };
  const of = (method: string) => ours.results.filter((r) => r.method === method).map((r) => r.result);
  const dmarc = of('dmarc');
  const spf = of('spf');
  const dkim = of('dkim');
  const said = ours.results.map((r) => `${r.method}=${r.result}`).join(' ') || 'no results';
  const detail = `${ours.authservId}: ${said}`;
  if (dmarc.includes('fail')) return { result: 'fail', detail };
  if (dmarc.includes('pass')) return { result: 'pass', detail };
  if (spf.includes('fail')) return { result: 'fail', detail };
  if (dkim.includes('fail') && !dkim.includes('pass')) return { result: 'fail', detail };
  if (spf.includes('pass') || dkim.includes('pass')) return { result: 'pass', detail };
  return { result: 'none', detail };
}

/**
 * The header's structure: RFC 5322 comments dropped (nested, with quoted pairs) and each quoted
 * string emptied to `""`, so neither a `(` nor a `;` inside a quoted value (the sender's own
 * MAIL FROM, say `"(x"@evil.test`) can hide or invent what follows. Linear in the value's length.
 */
function structure(s: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') {
        quoted = false;
        out += '""';
      }
      continue;
    }
    if (c === '\\' && depth > 0) {
      i++;
      continue;
    }
    if (c === '"' && depth === 0) quoted = true;
    else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if (depth === 0) out += c;
  }
  return out;
}
