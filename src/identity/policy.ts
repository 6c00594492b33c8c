// Who in a mail is looked up in Jira, and what happens to the ones Jira does not know. Pure:
// no Redis, no Jira, so the table tests in test/unit/policy.test.ts pin every rule down.
import { blockedLocalPart } from '../config/blocked-local-parts.js';
import type { MailboxConfig, PolicyConfig } from '../config/schema.js';
import { canonicalAddress } from '../core/address.js';
import { plainName } from '../mail/content.js';
import type { MailRecord } from '../mail/record.js';

export type Role = 'sender' | 'to' | 'cc';

export interface Participant {
  /** Lower-cased, trimmed. */
  email: string;
  name?: string;
  role: Role;
}

export type IgnoreReason =
  | 'invalid-address'
  | 'blocked-local-part'
  | 'denied-domain'
  | 'domain-not-allowed'
  | 'auto-create-off';

/** What becomes of one participant once we know whether Jira has an account for it. */
export type Decision =
  | { action: 'known' }
  | { action: 'provision'; mode: 'user' | 'customer' }
  | { action: 'ignore'; reason: IgnoreReason; detail: string }
  /** Over the flood limit: recorded, not provisioned (the limit counts the sender's mails of the last hour). */
  | { action: 'hold'; reason: 'flood'; detail: string };

/** The canonical form (src/core/address.ts): lower case, no trailing dot, punycode domain. */
export function normalizeEmail(address: string): string {
  return canonicalAddress(address).address;
}

/**
 * The participants the mailbox's policy names, sender first: the sender, then To, then Cc
 * (each only if enabled), never one of the mailbox's own addresses, each email once, at most
 * `resolve.max`.
 */
export function selectParticipants(record: Pick<MailRecord, 'from' | 'to' | 'cc'>, mailbox: Pick<MailboxConfig, 'addresses' | 'policy'>): Participant[] {
  const own = new Set(mailbox.addresses.map(normalizeEmail));
  const { resolve } = mailbox.policy;
  const candidates: Participant[] = [];
  const push = (a: { address: string; name?: string } | undefined, role: Role) => {
    if (!a) return;
    const email = normalizeEmail(a.address);
    if (!email) return;
    candidates.push(a.name ? { email, name: a.name, role } : { email, role });
  };
  if (resolve.sender) push(record.from, 'sender');
  if (resolve.to) record.to.forEach((a) => push(a, 'to'));
  if (resolve.cc) record.cc.forEach((a) => push(a, 'cc'));
  const seen = new Set<string>();
  const out: Participant[] = [];
  for (const p of candidates) {
    if (own.has(p.email) || seen.has(p.email)) continue;
    seen.add(p.email);
    out.push(p);
    if (out.length >= resolve.max) break;
  }
  return out;
}

function domainOf(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1);
}

function localPartOf(email: string): string {
  return email.slice(0, email.lastIndexOf('@'));
}

/** `a.example.com` is inside `example.com`; `badexample.com` is not. */
export function inDomain(domain: string, listed: string): boolean {
  return domain === listed || domain.endsWith('.' + listed);
}

/**
 * Whether an address is worth a Jira lookup at all. Machine addresses (blocked local parts)
 * and malformed ones are never looked up: they are not people, and a lookup costs a request.
 * Domain lists only govern creation: a colleague from a denied domain may still have an account.
 */
export function screen(email: string, policy: Pick<PolicyConfig, 'blockedLocalParts'>): { lookup: true } | { lookup: false; reason: IgnoreReason; detail: string } {
  const c = canonicalAddress(email);
  if (!c.ok) return { lookup: false, reason: 'invalid-address', detail: `not a deliverable mailbox: ${c.reason}` };
  const local = c.local;
  const hit = blockedLocalPart(policy.blockedLocalParts, local);
  if (hit !== undefined) return { lookup: false, reason: 'blocked-local-part', detail: `local part "${local}" matches blocked pattern /${hit}/` };
  return { lookup: true };
}

/** What to do with an address Jira does not know (or does). `flooded` applies to the sender only. */
export function decide(
  email: string,
  found: boolean,
  policy: Pick<PolicyConfig, 'autoCreate' | 'allowedDomains' | 'deniedDomains' | 'blockedLocalParts'>,
  opts: { flooded?: boolean; floodDetail?: string } = {},
): Decision {
  const s = screen(email, policy);
  if (!s.lookup) return { action: 'ignore', reason: s.reason, detail: s.detail };
  if (found) return { action: 'known' };
  if (policy.autoCreate === 'none') return { action: 'ignore', reason: 'auto-create-off', detail: 'policy.autoCreate is "none"' };
  const domain = domainOf(normalizeEmail(email));
  const denied = policy.deniedDomains.find((d) => inDomain(domain, d));
  if (denied) return { action: 'ignore', reason: 'denied-domain', detail: `domain ${domain} is in deniedDomains (${denied})` };
  if (policy.allowedDomains.length && !policy.allowedDomains.some((d) => inDomain(domain, d))) {
    return { action: 'ignore', reason: 'domain-not-allowed', detail: `domain ${domain} is not in allowedDomains` };
  }
  if (opts.flooded) return { action: 'hold', reason: 'flood', detail: opts.floodDetail ?? 'sender is over the flood limit' };
  return { action: 'provision', mode: policy.autoCreate };
}

/**
 * Display name for a created account: the mail's (bidi and invisible characters removed), else
 * the local part, always followed by the address's domain: "Alice Agent (evil.test)". A name in
 * a mail is the sender's claim; without the domain an outsider's portal account could wear a
 * staff member's name (JSM customers keep the name they are created with).
 */
export function displayNameFor(email: string, name: string | undefined): string {
  const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
  const suffix = domain && email.includes('@') ? ` (${domain})` : '';
  const n = plainName(name ?? '') || localPartOf(email) || email;
  // Jira caps display names at 255 characters: the domain is kept, the name cut.
  return n.slice(0, Math.max(1, 255 - suffix.length)) + suffix;
}
