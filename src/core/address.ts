// One canonical form for an email address, made once before any policy or lookup: a denied
// domain written with a trailing dot, in capitals or in Unicode is still the denied domain.
// Pure. The mail's own parsing (mailparser's addressparser) has split display names and
// groups off already; this decides whether what is left is a deliverable mailbox.
import { domainToASCII } from 'node:url';

/** RFC 5321 4.5.3.1: local part 64 octets, domain 255, a path 256 including the angle brackets. */
export const MAX_LOCAL = 64;
export const MAX_DOMAIN = 255;
export const MAX_ADDRESS = 254;
const MAX_LABEL = 63;

export type Canonical =
  | { ok: true; address: string; local: string; domain: string }
  /** `address` is a best-effort lower-cased form, for logs and audit entries only. */
  | { ok: false; address: string; reason: string };

// RFC 5322 atext: what a local part may hold without quotes.
const DOT_ATOM = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/i;
const LABEL = /^(?!-)[a-z0-9-]+(?<!-)$/;

/**
 * `Eve@Example.ORG.` -> `eve@example.org`; `bob@bücher.example` -> `bob@xn--bcher-kva.example`;
 * `"john"@example.com` -> `john@example.com` (quotes that quote nothing special are dropped).
 * Refused, with the reason: no @, empty or over-long parts, IP literals and single-label hosts
 * (not a mailbox a person reads), control characters, a domain that is not a valid hostname.
 */
export function canonicalAddress(input: string): Canonical {
  const raw = input.trim().replace(/^<(.*)>$/, '$1').trim();
  const best = raw.toLowerCase();
  const refuse = (reason: string): Canonical => ({ ok: false, address: best, reason: `"${clip(best)}" ${reason}` });
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) return refuse('contains control characters');
  const at = raw.lastIndexOf('@');
  if (at < 0) return refuse('has no @');
  let local = raw.slice(0, at);
  const rawDomain = raw.slice(at + 1);
  if (/^"(.*)"$/s.test(local)) {
    const inner = local.slice(1, -1).replace(/\\(.)/g, '$1');
    // Quotes around an ordinary local part change nothing; a truly quoted one stays quoted.
    local = DOT_ATOM.test(inner) ? inner : `"${inner.replace(/(["\\])/g, '\\$1')}"`;
  } else if (!DOT_ATOM.test(local)) {
    return refuse(local ? 'has a local part that needs quoting but is not quoted' : 'has an empty local part');
  }
  local = local.toLowerCase();
  if (Buffer.byteLength(local) > MAX_LOCAL) return refuse(`has a local part longer than ${MAX_LOCAL} octets (RFC 5321)`);
  if (rawDomain.startsWith('[')) return refuse('names an IP address, not a mail domain');
  const trimmed = rawDomain.replace(/\.+$/, '');
  if (!trimmed) return refuse('has an empty domain');
  const domain = domainToASCII(trimmed.toLowerCase());
  if (!domain) return refuse('has a domain that is not a valid host name');
  if (domain.length > MAX_DOMAIN) return refuse(`has a domain longer than ${MAX_DOMAIN} octets (RFC 5321)`);
  const labels = domain.split('.');
  if (labels.length < 2) return refuse('has a single-label domain (no public mail domain)');
  if (labels.some((l) => l.length > MAX_LABEL || !LABEL.test(l))) return refuse('has a domain that is not a valid host name');
  const address = `${local}@${domain}`;
  if (Buffer.byteLength(address) > MAX_ADDRESS) return refuse(`is longer than ${MAX_ADDRESS} octets (RFC 5321)`);
  return { ok: true, address, local, domain };
}

/** The canonical domain of a configured domain (allow/deny lists): same rules as addresses. */
export function canonicalDomain(input: string): string {
  const d = input.trim().toLowerCase().replace(/^@/, '').replace(/\.+$/, '');
  return domainToASCII(d) || d;
}

function clip(s: string): string {
  return s.length > 80 ? s.slice(0, 79) + '…' : s;
}
