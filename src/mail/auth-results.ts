// The receiving server's verdict on the sender (RFC 8601 Authentication-Results), read only from
// the headers the mailbox's receiving host wrote (src/mail/sender-trust.ts says which host that
// is): anyone can write an Authentication-Results header into the mail they send, with or
// without an authserv-id, but only below the ones the receiving host prepends. Pure.
//
// Three verdicts (docs/sender-verdicts.md): `pass` (verified: DMARC pass for the From judged,
// or on Exchange Online compauth=pass, or an SPF/DKIM pass aligned with the From when there is
// no DMARC result), `fail` (DMARC, SPF, every DKIM, or compauth failed), `none` (unverified:
// anything else, including no trusted header at all).
import { canonicalDomain } from '../core/address.js';

/**
 * Authentication-Results headers kept per mail (topmost first: the receiving host's is on top,
 * internal hops may add theirs above it), each in its compact form (compactAuthResults).
 */
export const MAX_AUTH_RESULTS = 10;
export const AUTH_RESULT_CHARS = 600;

export type SenderVerdict =
  /** Verified: the receiving host vouches for the From this mail carries. */
  | { result: 'pass'; detail: string }
  /** DMARC, SPF, every DKIM signature, or Exchange Online's compauth failed: the From is not to be believed. */
  | { result: 'fail'; detail: string }
  /** Unverified: no header from the trusted host, or one that says nothing conclusive for this From. */
  | { result: 'none'; detail: string };

/** Whose headers a mailbox believes (src/mail/sender-trust.ts makes it from the configuration). */
export type AuthTrust =
  /** Exchange Online: the topmost header, written without an authserv-id. */
  | { kind: 'exchange-online' }
  /** Hosts by authserv-id. `topmostOnly`: the host writes one header (Gmail), so a pass counts only from the first. */
  | { kind: 'authserv-ids'; ids: readonly string[]; topmostOnly?: boolean }
  /** Nothing to read: every mail is unverified. */
  | { kind: 'none'; why: string };

/** What of a mail the verdict reads (all in the mail record). */
export interface AuthInput {
  /** Compact headers, topmost first. */
  authResults?: readonly string[] | undefined;
  /** For each kept header, the Received headers above it (a hop boundary), when known. */
  authHops?: readonly number[] | undefined;
  /** Exchange's X-MS-Exchange-Organization-AuthAs (topmost), lower-cased: `internal` for mail from inside the tenant. */
  authAs?: string | undefined;
  /** The From address Mailroom uses. */
  from?: string | undefined;
  /** From addresses in the mail (headers times list entries): more than one means the From judged may not be this one. */
  fromCount?: number | undefined;
}

export interface MethodResult {
  method: string;
  result: string;
  /** The domain the result is about: header.from, header.d / header.i, smtp.mailfrom (its domain part). */
  domain?: string;
}

const METHOD = /^\s*([a-z0-9_-]+)(?:\/[0-9]+)?\s*=\s*([a-z0-9_-]+)(.*)$/is;
const DOMAIN_PROPS = /\b(header\.from|header\.d|header\.i|smtp\.mailfrom|smtp\.from)\s*=\s*([^\s;]+)/i;

/**
 * `mx.example.com; dmarc=fail (p=reject) header.from=x` -> authserv-id and method results.
 * Exchange Online writes no authserv-id (`spf=pass (sender IP is …) smtp.mailfrom=x; …`): its
 * id is then `''`.
 */
export function parseAuthResults(value: string): { authservId: string; results: MethodResult[] } {
  const text = structure(value);
  const parts = text.split(';');
  const head = parts[0] ?? '';
  const idless = METHOD.test(head) && !/^\s*i\s*=/i.test(head);
  const authservId = idless ? '' : (head.trim().split(/\s+/)[0]?.toLowerCase() ?? '');
  const results: MethodResult[] = [];
  for (const part of idless ? parts : parts.slice(1)) {
    const m = METHOD.exec(part);
    if (!m) continue;
    const prop = DOMAIN_PROPS.exec(m[3] ?? '');
    const domain = prop ? domainPart(prop[2]!) : undefined;
    results.push({ method: m[1]!.toLowerCase(), result: m[2]!.toLowerCase(), ...(domain ? { domain } : {}) });
  }
  // Fail closed: a failure written anywhere in the header counts, even where a malformed value
  // (an unclosed comment or quote) hid it from the parse above. Only a failure is read this
  // way, so text a sender placed in a value can make its own mail fail, never pass.
  for (const m of value.matchAll(/(?:^|[\s;(])(dmarc|spf|compauth)\s*=\s*fail\b/gi)) {
    const method = m[1]!.toLowerCase();
    if (!results.some((r) => r.method === method && r.result === 'fail')) results.push({ method, result: 'fail' });
  }
  return { authservId, results };
}

/**
 * A header as kept in the mail record: the authserv-id (empty for Exchange Online's) and each
 * distinct `method=result`, with the domain it judged (`dmarc=pass header.from=x.example`),
 * nothing else. Cut only after that: a sender who adds many DKIM signatures lengthens the
 * receiving host's header with one `dkim=pass` each, so failures are written first.
 */
export function compactAuthResults(value: string): string {
  const { authservId, results } = parseAuthResults(value);
  const prop = (m: string) => (m === 'dmarc' ? 'header.from' : m === 'spf' ? 'smtp.mailfrom' : 'header.d');
  const pair = (r: MethodResult) => `${r.method}=${r.result}${r.domain ? ` ${prop(r.method)}=${r.domain}` : ''}`;
  const ordered = [...results.filter((r) => r.result === 'fail'), ...results.filter((r) => r.result !== 'fail')];
  const pairs = [...new Set(ordered.map(pair))];
  return [authservId, ...pairs].join('; ').slice(0, AUTH_RESULT_CHARS);
}

interface Header {
  authservId: string;
  results: MethodResult[];
  hops: number | undefined;
}

/** The verdict on the mail's From, from the trusted host's headers only. */
export function senderVerdict(input: AuthInput, trust: AuthTrust): SenderVerdict {
  if (trust.kind === 'none') return { result: 'none', detail: trust.why };
  const headers: Header[] = (input.authResults ?? []).map((v, i) => ({ ...parseAuthResults(v), hops: input.authHops?.[i] }));
  const { trusted, block, name } = pick(headers, trust);
  const failed = failure(trusted, trust.kind === 'exchange-online' ? block : []);
  if (failed) return { result: 'fail', detail: `${name}: ${failed}` };
  if (trust.kind === 'exchange-online' && input.authAs === 'internal') {
    return { result: 'pass', detail: 'Exchange Online: sent from inside the organisation (X-MS-Exchange-Organization-AuthAs: Internal)' };
  }
  if (!block.length) return { result: 'none', detail: `no Authentication-Results from ${name}` };
  const said = `${name}: ${describe(block)}`;
  if ((input.fromCount ?? 1) > 1) return { result: 'none', detail: `${said}; but the mail has ${input.fromCount} From addresses, so the one judged may not be the one used` };
  return aligned(block, domainPart(input.from ?? ''), said, trust.kind === 'exchange-online');
}

/** The trusted host's headers (every one: fails count from all) and the block on top (passes count only from it). */
function pick(headers: Header[], trust: Exclude<AuthTrust, { kind: 'none' }>): { trusted: Header[]; block: Header[]; name: string } {
  if (trust.kind === 'exchange-online') {
    // Exchange Online's own header is the topmost one, without an id; id-less headers below it
    // are a sender's (or an earlier tenant's) and may only make the mail fail.
    const trusted = headers.filter((h) => h.authservId === '');
    const top = headers[0]?.authservId === '' ? [headers[0]] : [];
    return { trusted, block: top, name: 'Exchange Online' };
  }
  const ids = new Set(trust.ids.map((s) => s.trim().toLowerCase()));
  const trusted = headers.filter((h) => ids.has(h.authservId));
  const first = trusted[0];
  const name = [...ids].join(', ');
  if (!first) return { trusted, block: [], name };
  // Hosts that write one header per method write them together, above the next hop's
  // Received header; a sender's own headers lie below at least one Received header more.
  const block = trust.topmostOnly || first.hops === undefined ? [first] : trusted.filter((h) => h.hops === first.hops);
  return { trusted, block, name };
}

/**
 * The first failure any trusted header reports. `composite`: Exchange Online's own header, whose
 * compauth=pass is Microsoft's final word over its SPF/DKIM/DMARC results (reason 130: a trusted
 * ARC sealer's results overrode a DMARC failure caused by a gateway that modified the mail).
 */
function failure(trusted: Header[], composite: Header[]): string | undefined {
  for (const h of trusted) {
    const of = (m: string) => h.results.filter((r) => r.method === m).map((r) => r.result);
    const dkim = of('dkim');
    if (of('compauth').includes('fail')) return `compauth=fail (${describe([h])})`;
    if (composite.includes(h) && of('compauth').includes('pass')) continue;
    if (of('dmarc').includes('fail')) return `dmarc=fail (${describe([h])})`;
    if (of('dmarc').some((r) => r === 'pass' || r === 'bestguesspass')) continue; // DMARC's own pass outranks an SPF fail (forwarding)
    if (of('spf').includes('fail')) return `spf=fail (${describe([h])})`;
    if (dkim.includes('fail') && !dkim.includes('pass')) return `every DKIM signature failed (${describe([h])})`;
  }
  return undefined;
}

function aligned(block: Header[], fromDomain: string, said: string, exchange: boolean): SenderVerdict {
  const all = block.flatMap((h) => h.results);
  const of = (m: string) => all.filter((r) => r.method === m);
  const judgedOther = (r: MethodResult) => !!r.domain && r.domain !== fromDomain;
  const dmarcPass = of('dmarc').find((r) => r.result === 'pass' || r.result === 'bestguesspass');
  // One host judges a mail's DMARC once: a block that says pass and something else has a
  // header a sender wrote at the host's own depth (a host that keeps headers with its id).
  const dmarcOther = of('dmarc').find((r) => r.result !== 'pass' && r.result !== 'bestguesspass');
  if (dmarcPass && dmarcOther) return { result: 'none', detail: `${said}; the host's headers disagree about DMARC (${dmarcPass.result} and ${dmarcOther.result}): one of them is not the host's` };
  if (dmarcPass) {
    if (judgedOther(dmarcPass)) return { result: 'none', detail: `${said}; DMARC judged ${dmarcPass.domain}, not the From's domain ${fromDomain || '(none)'}` };
    return { result: 'pass', detail: said };
  }
  if (exchange && of('compauth').some((r) => r.result === 'pass')) {
    const other = of('dmarc').find(judgedOther);
    if (other) return { result: 'none', detail: `${said}; DMARC judged ${other.domain}, not the From's domain ${fromDomain || '(none)'}` };
    return { result: 'pass', detail: said };
  }
  const dmarc = of('dmarc').map((r) => r.result);
  if (dmarc.some((r) => r !== 'none')) return { result: 'none', detail: `${said}; DMARC said ${dmarc.join(', ')}` };
  // No DMARC result (or no DMARC record): an SPF or DKIM pass counts only for the From's own domain.
  const hit = [...of('dkim'), ...of('spf')].find((r) => r.result === 'pass' && !!r.domain && alignedDomain(r.domain, fromDomain));
  if (hit) return { result: 'pass', detail: `${said}; ${hit.method} aligned with ${fromDomain}` };
  const unaligned = [...of('dkim'), ...of('spf')].some((r) => r.result === 'pass');
  return { result: 'none', detail: unaligned ? `${said}; the passes are for other domains than the From's ${fromDomain || '(none)'}` : said };
}

/** Relaxed alignment, kept strict without a public-suffix list: the same domain, or one inside the other. */
export function alignedDomain(a: string, b: string): boolean {
  if (!a || !b) return false;
  return a === b || a.endsWith('.' + b) || b.endsWith('.' + a);
}

function describe(headers: Header[]): string {
  const said = headers.flatMap((h) => h.results.map((r) => `${r.method}=${r.result}`));
  return said.length ? [...new Set(said)].join(' ') : 'no results';
}

/**
 * The domain of an address or a header value, in its ASCII (punycode) form: the mail record keeps
 * an IDN From in Unicode (bücher.example), receiving hosts write header.from as the mail did
 * (xn--bcher-kva.example, or Unicode in an SMTPUTF8 mail): both must compare as one domain.
 */
function domainPart(s: string): string {
  const v = s.trim().replace(/^"+|"+$/g, '').toLowerCase();
  return canonicalDomain(v.slice(v.lastIndexOf('@') + 1));
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
