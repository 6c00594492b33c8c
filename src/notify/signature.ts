// Jira Cloud signs admin webhooks registered with a secret (WebSub style): HMAC-SHA256 of the
// raw request body, keyed on the secret, sent as `X-Hub-Signature: sha256=<hex>`. The check is
// over the exact bytes received (re-serialised JSON would not match) and in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-hub-signature';

export function signBody(secret: string, body: Buffer | string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

export type SignatureCheck = { ok: true } | { ok: false; why: string };

export function checkSignature(secret: string | undefined, body: Buffer, header: string | string[] | undefined): SignatureCheck {
  if (!secret) return { ok: false, why: 'no webhook secret is configured (notifications.webhookSecretEnv)' };
  if (header === undefined || header === '') return { ok: false, why: `missing ${SIGNATURE_HEADER} header` };
  if (Array.isArray(header)) return { ok: false, why: `more than one ${SIGNATURE_HEADER} header` };
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!m) return { ok: false, why: `${SIGNATURE_HEADER} is not of the form sha256=<64 hex digits>` };
  const given = Buffer.from(m[1]!.toLowerCase(), 'hex');
  const expected = createHmac('sha256', secret).update(body).digest();
  // Both are 32 bytes here, so timingSafeEqual never throws on a length mismatch.
  return timingSafeEqual(given, expected) ? { ok: true } : { ok: false, why: 'signature does not match the body' };
}
