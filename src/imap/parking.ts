// A mailbox's run of refused logins, kept in Redis so that it belongs to the mailbox and not to
// the process that happens to hold its lock. Hosted servers (Microsoft 365, Gmail, Dovecot with
// auth penalties) lock the account or block the client's address after repeated failed logins:
// a new lock holder (a restart, a deploy, a crash loop, a lock lost under a stall) must go on
// counting where the last one stopped, and wait out a parking it finds, not try afresh.
//
// The record holds the count, when the next attempt is due, and optionally a keyed fingerprint
// of the credential that was refused (an HMAC with the install's MAILROOM_SECRET_KEY; never the
// secret, never a plain hash of it): a poller started with another credential tries once at
// once, like `mailroom mailboxes retry`. A successful login deletes the record.
import { createHmac } from 'node:crypto';
import type { MailboxConfig } from '../config/schema.js';
import type { Config } from '../config/load.js';
import { oauthKey } from '../config/oauth-keys.js';
import type { Redis } from '../core/redis.js';
import type { SecretKey } from '../token/key.js';
import { imapKeys } from './keys.js';

export interface LoginRecord {
  /** Refused logins in a row (network trouble in between does not end the run; a login does). */
  failures: number;
  /** When the next login may be tried (epoch ms), if the record says. */
  nextAttemptAt?: number;
  /** Keyed fingerprint of the credential that was refused, if the poller had a key. */
  credential?: string;
}

export async function readLoginRecord(redis: Redis, prefix: string, mailboxId: string): Promise<LoginRecord | undefined> {
  const h = await redis.hgetall(imapKeys.login(prefix, mailboxId));
  if (!h || Object.keys(h).length === 0) return undefined;
  const n = Number(h.failures);
  // A count that is not one (a hand edit, a hostile write) reads as one refusal: it neither
  // parks the mailbox for ever nor forgets that a login was refused.
  const failures = Number.isSafeInteger(n) && n >= 0 ? Math.min(n, 1_000_000) : 1;
  const at = h.nextAttemptAt ? Date.parse(h.nextAttemptAt) : NaN;
  return {
    failures,
    ...(Number.isFinite(at) ? { nextAttemptAt: at } : {}),
    ...(h.credential ? { credential: h.credential } : {}),
  };
}

/** Record a refused login: the count so far and when the next attempt is due. */
export async function recordRefusal(redis: Redis, prefix: string, mailboxId: string, r: LoginRecord & { nextAttemptAt: number }): Promise<void> {
  const k = imapKeys.login(prefix, mailboxId);
  // The whole record, written afresh: a poller without a key must not leave another credential's
  // fingerprint beside its refusal, and whatever else was under the key (a stray field, a value
  // of another type, which would fail HSET with WRONGTYPE every time) does not outlive it.
  const replies = await redis
    .multi()
    .del(k)
    .hset(k, {
      failures: String(r.failures),
      nextAttemptAt: new Date(r.nextAttemptAt).toISOString(),
      ...(r.credential ? { credential: r.credential } : {}),
    })
    .exec();
  // EXEC resolves with each command's error in its reply: a write that failed must say so.
  const failed = replies?.find(([e]) => e)?.[0];
  if (failed) throw failed;
}

/** A login succeeded: the run of refusals is over. */
export async function clearLoginRecord(redis: Redis, prefix: string, mailboxId: string): Promise<void> {
  await redis.del(imapKeys.login(prefix, mailboxId));
}

/**
 * How long a new lock holder waits before its first login, given the stored record: until the
 * record's next attempt, but never longer than `parkedRetryMs` from now (a skewed clock or a
 * hostile write must not park a mailbox for ever). 0: try now.
 */
export function resumeDelay(record: LoginRecord | undefined, now: number, parkedRetryMs: number): number {
  if (!record || record.failures <= 0 || record.nextAttemptAt === undefined) return 0;
  return Math.max(0, Math.min(record.nextAttemptAt - now, parkedRetryMs));
}

/**
 * A keyed fingerprint of what a mailbox logs in with (server, user, and the password or OAuth
 * secrets): an HMAC-SHA256 with the install's secret key, so the stored value says nothing about
 * a low-entropy password to whoever reads Redis. Undefined without a key.
 */
export function credentialFingerprint(
  key: SecretKey | undefined,
  config: Pick<Config, 'prefix' | 'secrets'>,
  mailbox: Pick<MailboxConfig, 'id' | 'imap'>,
): string | undefined {
  const imap = mailbox.imap;
  if (!key || !imap) return undefined;
  const o = config.secrets.oauth?.[oauthKey.imap(mailbox.id)];
  const secret = imap.auth
    ? {
        auth: imap.auth,
        clientSecret: o?.clientSecret,
        refreshToken: o?.refreshToken,
        certificate: o?.certificate?.x5tS256,
        serviceAccount: o?.serviceAccount ? [o.serviceAccount.clientEmail, o.serviceAccount.privateKeyId] : undefined,
      }
    : { password: config.secrets.imapPasswords[mailbox.id] ?? '' };
  return createHmac('sha256', key.bytes)
    .update(`mailroom|imap-login|v1|${config.prefix}|${mailbox.id}|`)
    .update(JSON.stringify({ host: imap.host, port: imap.port, user: imap.user, ...secret }))
    .digest('base64url')
    .slice(0, 32);
}
