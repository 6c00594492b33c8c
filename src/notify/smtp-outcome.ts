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
    if (e) out[r] = isPermanentReply(e.responseCode) ? { state: 'failed', why: describe(e) } : { state: 'deferred', why: describe(e) };
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
      out[r] = e && isPermanentReply(e.responseCode) ? { state: 'failed', why: describe(e) } : { state: 'deferred', why: describe(e ?? err) };
    }
    return out;
  }
  // A 5xx to the message itself (DATA refused, too big) fails it for all its recipients; an
  // authentication failure is a configuration problem that a fixed password cures, so it waits.
  const permanent = isPermanentReply(err.responseCode) && err.code !== 'EAUTH';
  for (const r of recipients) out[r] = permanent ? { state: 'failed', why: describe(err) } : { state: 'deferred', why: describe(err) };
  return out;
}
