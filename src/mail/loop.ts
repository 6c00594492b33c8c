// Our own loop header. Every mail Mailroom sends (notifications, replies) carries it, so when
// such a mail comes back into a watched mailbox (a list expansion, a forward, a CC of the
// support address) it is recognised and never turned into Jira work again.
import { domainToASCII } from 'node:url';

export const LOOP_HEADER = 'X-Mailroom-Loop';

/** Lower-cased, as header maps keep names. */
export const LOOP_HEADER_KEY = LOOP_HEADER.toLowerCase();

/**
 * The value we put in LOOP_HEADER: `mailroom; install=<id>` plus optional extra fields such as
 * the Jira issue key, e.g. `mailroom; install={mailroom}; issue=SUP-12`. The install id lets a
 * reader tell its own mail from another Mailroom's; field values are kept header-safe.
 */
export function loopHeaderValue(installId: string, extra: Record<string, string> = {}): string {
  const fields = { install: installId, ...extra };
  return ['mailroom', ...Object.entries(fields).map(([k, v]) => `${safe(k)}=${safe(v)}`)].join('; ');
}

/**
 * The Message-ID of a notification (src/notify/message.ts): `<mailroom.` + 32 hex digits. Not a
 * customer mail's (`<mailroom.r.…>`): those are answered on purpose.
 */
export const NOTIFICATION_ID_PREFIX = 'mailroom.';
const NOTIFICATION_ID = /^<?mailroom\.[0-9a-f]{32}@([^>\s]+)>?$/i;

/** The domain our notifications' Message-IDs end in: smtp.from's (src/notify/notifier.ts). */
export function notificationDomainOf(from: string): string {
  return from.split('@')[1] ?? 'mailroom.invalid';
}

/**
 * Parse options (ParseOptions.notificationDomains) naming this install's own domain for
 * classification: smtp.from's. None when this config sends no mail (no smtp section): then any
 * Mailroom id or loop header counts as ours, the stricter reading for a role whose config may
 * lack smtp.
 */
export function ownMailOptions(smtp: { from: string } | undefined): { notificationDomains?: string[] } {
  return smtp ? { notificationDomains: [notificationDomainOf(smtp.from)] } : {};
}

/**
 * Whether the Message-ID a mail answers (its In-Reply-To) is one of our notifications:
 * they say replies are not read, and a responder that answers them anyway (ignoring
 * Auto-Submitted) must not turn each into new work, which would notify it again: a loop.
 * With `ownDomains`, only an id in one of them is ours: a person answering ANOTHER company's
 * Mailroom notification and copying this support address wrote to us, and that mail is work.
 */
export function isNotificationId(id: string, ownDomains?: readonly string[]): boolean {
  const m = NOTIFICATION_ID.exec(id.trim());
  return !!m && isOwnDomain(m[1]!, ownDomains);
}

/** Whether a domain is one of ours; any is, when we know none (ownMailOptions). */
function isOwnDomain(domain: string, ownDomains: readonly string[] | undefined): boolean {
  if (ownDomains === undefined) return true;
  const d = comparable(domain);
  return ownDomains.some((own) => comparable(own) === d);
}

/**
 * A domain as compared: its ASCII form, lower-cased. An IDN smtp.from (the config takes
 * `help@bücher.example`) mints ids in the Unicode form, and an answer may come back naming
 * the same domain as xn--bcher-kva.example (or the reverse): both are ours. A domain that has
 * no ASCII form (an address literal) is compared lower-cased.
 */
function comparable(domain: string): string {
  const d = domain.toLowerCase();
  return domainToASCII(d) || d;
}

/**
 * The `domain=` field of our loop header: smtp.from's domain in its ASCII form, whichever From a
 * mail carries (a mailbox address, respond.from). It tells this install's mail from another
 * company's Mailroom, as the `install=` field (the Redis prefix, `mailroom` on most) cannot.
 */
export function loopDomainOf(smtpFrom: string): string {
  return comparable(notificationDomainOf(smtpFrom));
}

/**
 * Whether a mail carrying our loop header is this install's own. A header without `domain=`
 * (an older Mailroom) or a reader that knows no domain (no smtp section) counts it as ours, as
 * before; one naming another domain is another company's Mailroom mail (a vendor's agent
 * answering this support address): not ours to drop, it is read like any mail.
 */
export function isOwnLoopHeader(value: string, ownDomains?: readonly string[]): boolean {
  const domain = parseLoopHeader(value)?.domain;
  return domain === undefined || isOwnDomain(domain, ownDomains);
}

/** Reads the fields back from a header value; undefined when it is not one of ours. */
export function parseLoopHeader(value: string): Record<string, string> | undefined {
  const parts = value.split(';').map((p) => p.trim());
  if (parts[0]?.toLowerCase() !== 'mailroom') return undefined;
  const fields: Record<string, string> = {};
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    if (eq > 0) fields[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return fields;
}

function safe(s: string): string {
  // No CR/LF (header injection) and no ';' or '=' (our separators).
  return s.replace(/[\r\n;=]+/g, ' ').replace(/\s+/g, ' ').trim();
}
