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
  if (o.verdict.result !== 'pass') return [];
  return mailable([...(o.sender ? [o.sender] : []), ...o.cc], o, withAccount).to;
}

/**
 * The `mailOnly` list read back from the issue property before a comment is mailed. Anyone who
 * may edit the issue can write that property, so each entry must still pass the rules above: one
 * plain address (to the SMTP library `a@x, b@y` is two recipients, and `d@x<CR><LF>Bcc: e@y`
 * is only e@y), not the mailbox's own, not a blocked local part, at most MAX_MAIL_ONLY. Pure.
 */
export function mailOnlyOfProperty(value: unknown, o: { ownAddresses: readonly string[]; blockedLocalParts: readonly string[] }): { to: string[]; dropped: number } {
  return mailable(Array.isArray(value) ? value.map((x) => (typeof x === 'string' ? x : '')) : [], o, new Set());
}

function mailable(candidates: readonly string[], o: { ownAddresses: readonly string[]; blockedLocalParts: readonly string[] }, skip: ReadonlySet<string>): { to: string[]; dropped: number } {
  const own = new Set(o.ownAddresses.map((a) => canonicalAddress(a).address));
  const to: string[] = [];
  let dropped = 0;
  for (const raw of candidates) {
    if (to.length >= MAX_MAIL_ONLY) break;
    const c = canonicalAddress(raw);
    if (!c.ok || own.has(c.address) || blockedLocalPart(o.blockedLocalParts, c.local) !== undefined) dropped++;
    else if (!skip.has(c.address) && !to.includes(c.address)) to.push(c.address);
  }
  return { to, dropped };
}

