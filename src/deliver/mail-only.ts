// The email-only participants of a mail that became an issue: its sender and its Cc's, only when
// the receiving server verified the sender (a forged or unverified mail could name anyone in Cc,
// and every agent comment would go to them), without a Jira account (Jira will not mail them),
// not the mailbox's own addresses and not blocked local parts (noreply, mailer-daemon). Kept in
// the issue's `mailroom.message` property (`mailOnly`), so agents' public comments reach them and
// survives a lost Redis. Pure.
import { blockedLocalPart } from '../config/blocked-local-parts.js';
import { canonicalAddress } from '../core/address.js';
import type { SenderVerdict } from '../mail/auth-results.js';
import type { ResolvedPerson } from '../queues/catalog.js';

/** A mail naming 99 Cc's must not make Mailroom mail 99 strangers for every comment. */
export const MAX_MAIL_ONLY = 10;

export function mailOnlyParticipants(o: {
  sender: string | undefined;
  cc: readonly string[];
  verdict: SenderVerdict;
  people: readonly ResolvedPerson[] | undefined;
  ownAddresses: readonly string[];
  blockedLocalParts: readonly string[];
}): string[] {
  const withAccount = new Set((o.people ?? []).filter((p) => p.accountId).map((p) => canonicalAddress(p.email).address));
  const own = new Set(o.ownAddresses.map((a) => canonicalAddress(a).address));
  if (o.verdict.result !== 'pass') return [];
  const candidates = [...(o.sender ? [o.sender] : []), ...o.cc];
  const out: string[] = [];
  for (const raw of candidates) {
    const c = canonicalAddress(raw);
    if (!c.ok || own.has(c.address) || withAccount.has(c.address) || out.includes(c.address)) continue;
    const local = c.local;
    if (blockedLocalPart(o.blockedLocalParts, local) !== undefined) continue;
    out.push(c.address);
    if (out.length >= MAX_MAIL_ONLY) break;
  }
  return out;
}

