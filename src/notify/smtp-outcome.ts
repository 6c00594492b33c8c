// What an SMTP answer means for each recipient of one message: accepted, refused for good
// (5xx: a retry would be refused the same way), or refused for now (4xx, connection trouble,
// timeouts: worth trying again). Pure, table-tested on nodemailer's error shapes.

/** The parts of nodemailer's send info / error that carry per-recipient answers. */
export interface SmtpAnswer {
  accepted?: unknown[];
  rejected?: unknown[];
  rejectedErrors?: { recipient?: unknown; responseCode?: number; response?: string; message?: string }[];
  responseCode?: number;
  response?: string;
  code?: string;
  message?: string;
  /** The SMTP command the server refused (nodemailer: 'MAIL FROM', 'RCPT TO', 'DATA'…). */
  command?: string;
}

export type PerRecipient = { state: 'sent' } | { state: 'failed'; why: string } | { state: 'deferred'; why: string };

const addr = (x: unknown): string => {
  if (typeof x === 'string') return x.toLowerCase();
  const a = (x as { address?: unknown } | null)?.address;
  return typeof a === 'string' ? a.toLowerCase() : String(x).toLowerCase();
};

function describe(e: { responseCode?: number; response?: string; code?: string; message?: string }): string {
  const text = (e.response ?? e.message ?? e.code ?? 'unknown SMTP error').replace(/\s+/g, ' ').trim();
  return text.length > 200 ? text.slice(0, 199) + '…' : text;
}

/** Permanent only for a 5xx reply; everything else (4xx, no reply at all) may pass later. */
export function isPermanentReply(code: number | undefined): boolean {
  return typeof code === 'number' && code >= 500 && code < 600;
}

/** A message was accepted (possibly for some recipients only): who got it and who did not. */
export function outcomesOfSuccess(recipients: readonly string[], info: SmtpAnswer): Record<string, PerRecipient> {
  const out: Record<string, PerRecipient> = {};
  const errs = new Map((info.rejectedErrors ?? []).map((e) => [addr(e.recipient), e]));
  const rejected = new Set((info.rejected ?? []).map(addr));
  for (const r of recipients) {
    const e = errs.get(r);
    if (e) out[r] = rcptOutcome(e);
    else if (rejected.has(r)) out[r] = { state: 'deferred', why: 'rejected without a reply code' };
    else out[r] = { state: 'sent' };
  }
  return out;
}

/** Sending threw: per recipient, refused for good or for now. */
export function outcomesOfError(recipients: readonly string[], err: SmtpAnswer): Record<string, PerRecipient> {
  const out: Record<string, PerRecipient> = {};
  if (err.rejectedErrors?.length) {
    // Every recipient was refused at RCPT: each by its own reply.
    const errs = new Map(err.rejectedErrors.map((e) => [addr(e.recipient), e]));
    for (const r of recipients) {
      const e = errs.get(r);
      out[r] = e ? rcptOutcome(e) : { state: 'deferred', why: describe(err) };
    }
    return out;
  }
  // A 5xx to the message itself (DATA refused, too big) fails it for all its recipients; an
  // authentication failure is a configuration problem that a fixed password cures, so it waits.
  // So does a refused sender: it says nothing about the recipients.
  const sender = senderRefused(err);
  const permanent = isPermanentReply(err.responseCode) && err.code !== 'EAUTH' && !sender;
  const why = sender ? `the SMTP server refused the sender (MAIL FROM): ${describe(err)}; check smtp.from, respond.from and smtp.user` : describe(err);
  for (const r of recipients) out[r] = permanent ? { state: 'failed', why } : { state: 'deferred', why };
  return out;
}

type RcptError = NonNullable<SmtpAnswer['rejectedErrors']>[number];

/**
 * One recipient's refusal at RCPT: a 5xx is final, except a refusal to relay ("Relay access
 * denied", "Unable to relay recipient in non-accepted domain", "Mail relay denied"): the server
 * will not pass on Mailroom's mail to any outside address, because of how Mailroom connects or
 * logs in (no smtp.user, a relay that wants one, an IP it does not know), not because of the
 * recipient. Recorded as failed, every mail was lost for good and no fix could send it again: it
 * waits like a refused login.
 */
/**
 * The server's refusal to relay, not any sentence with "relay" in it: Postfix refuses an unknown
 * user of a domain it relays for with "User unknown in relay recipient table", which is that
 * recipient's own final refusal (it would otherwise wait out every attempt, and a customer mail
 * would never get its refusal note). Servers word the refusal many ways: "Relay rejected for policy
 * reasons", sendmail's "Relaying to <x> denied", "We don’t relay" with a typographic apostrophe.
 */
const RELAY_REFUSED = /\b(relay(ing)?\s+(to\s+<?[^\s<>]+>?\s+)?(access\s+)?(denied|not\s+permitted|prohibited|refused|rejected|not\s+allowed)|unable\s+to\s+relay|(not\s+permitted|not\s+allowed)\s+to\s+relay|(do|does|will|can)\s*(not|n['\u2019]t)\s+relay)\b/i;

function rcptOutcome(e: RcptError): PerRecipient {
  if (!isPermanentReply(e.responseCode)) return { state: 'deferred', why: describe(e) };
  if (RELAY_REFUSED.test(e.response ?? e.message ?? '')) {
    return { state: 'deferred', why: `the SMTP server will not relay Mailroom's mail: ${describe(e)}; check smtp.host, smtp.user and what the server lets Mailroom send` };
  }
  return { state: 'failed', why: describe(e) };
}

/**
 * A 5xx to MAIL FROM refuses our sender, not the recipients: a From the relay does not let this
 * login send as (553 5.7.1, Exchange's 5.7.60), or a login it requires (530). Every message fails
 * alike until the configuration is fixed, so it waits like a refused login instead of being
 * recorded as failed for good, which no retry or reprocess would send again. Except 552 there:
 * the size the message declared (RFC 1870), final for this message.
 */
export function senderRefused(err: SmtpAnswer): boolean {
  return err.command === 'MAIL FROM' && isPermanentReply(err.responseCode) && err.responseCode !== 552;
}
