// The delivery ledger: which Jira issue (or comment) each mail became, keyed by Message-ID
// under the install's prefix. It answers "was this mail delivered?" before any create, and
// "which issue does this reply belong to?" for In-Reply-To/References. It is the fast guard;
// the issue property `mailroom.message` is the one that survives losing Redis.
import { randomBytes } from 'node:crypto';
import { RetryableError } from '../core/errors.js';
import { key, type Redis } from '../core/redis.js';

export interface LedgerEntry {
  issueKey: string;
  issueId?: string;
  kind: 'issue' | 'request' | 'comment';
  commentId?: string;
  mailboxId: string;
  /** The deliver job that made it (a second job for the same mail only adopts it). */
  jobId: string;
  /** The raw mail's hash: a mail with the same Message-ID and other content is another mail. */
  sha256?: string;
  at: string;
  /**
   * Set on entries for mail Mailroom SENT (src/respond/outbox.ts): the address it was sent to.
   * A verified reply from that address to that Message-ID is from a participant of the issue.
   */
  respondedTo?: string;
}

// 400 days: replies keep arriving for long-lived tickets; entries are ~200 bytes.
const LEDGER_TTL_S = 400 * 24 * 3600;

export interface Ledger {
  get(mailKey: string): Promise<LedgerEntry | undefined>;
  /** Record a delivery; the first record for a mail wins (returns the entry that stands). */
  put(mailKey: string, entry: LedgerEntry): Promise<LedgerEntry>;
  /** The first of these Message-IDs that the ledger knows, with its entry. */
  findThread(ids: string[]): Promise<LedgerEntry | undefined>;
  /** Hold the mail while checking and creating, so two jobs for one mail never both create. */
  lock(mailKey: string, ttlMs: number): Promise<() => Promise<void>>;
  /**
   * Hold an issue while its comment record (an issue property, read then written) is updated:
   * two replies to one issue at once would each write the list they read, losing the other.
   * Waits up to `waitMs` for the holder, then throws a RetryableError.
   */
  lockIssue(issueKey: string, ttlMs: number, waitMs?: number): Promise<() => Promise<void>>;
  /**
   * The issue made from a reply to `issueKey` when it was resolved (src/deliver/resolved.ts):
   * later replies to its thread go there. Recorded with setFollowUp (the latest wins).
   */
  followUpOf(issueKey: string): Promise<string | undefined>;
  setFollowUp(issueKey: string, followUpKey: string): Promise<void>;
  /** Note that a mail is on its way to delivery (the resolver calls this as it starts on it). */
  markPending(mailKey: string): Promise<void>;
  /** Those of these Message-IDs that are on their way but not yet delivered. */
  pendingOf(ids: string[]): Promise<string[]>;
  /**
   * When this ledger started keeping records (epoch ms), stamping now if it has no stamp: a
   * fresh install, or a Redis that was wiped. A mail that reached the mailbox before then may
   * have been delivered by a ledger that no longer exists.
   */
  bornAt(): Promise<number>;
}

export function bornKey(prefix: string): string {
  return key(prefix, 'deliver', 'ledger-born');
}

export function pendingKey(prefix: string, mailKey: string): string {
  return key(prefix, 'deliver', 'pending', mailKey);
}

// A mail is "on its way" at most this long: a thread's first mail that failed for good must not
// hold its replies back for ever.
const PENDING_TTL_S = 3600;

export function followUpKey(prefix: string, issueKey: string): string {
  return key(prefix, 'deliver', 'followup', issueKey);
}

export function ledgerKey(prefix: string, mailKey: string): string {
  return key(prefix, 'deliver', 'ledger', mailKey);
}

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export function createLedger(redis: Redis, prefix: string): Ledger {
  const parse = (v: string | null): LedgerEntry | undefined => (v ? (JSON.parse(v) as LedgerEntry) : undefined);
  return {
    async get(mailKey) {
      return parse(await redis.get(ledgerKey(prefix, mailKey)));
    },
    async put(mailKey, entry) {
      const k = ledgerKey(prefix, mailKey);
      const set = await redis.set(k, JSON.stringify(entry), 'EX', LEDGER_TTL_S, 'NX');
      await redis.del(pendingKey(prefix, mailKey));
      if (set) return entry;
      return parse(await redis.get(k)) ?? entry;
    },
    async findThread(ids) {
      if (!ids.length) return undefined;
      const values = await redis.mget(...ids.map((id) => ledgerKey(prefix, id)));
      for (const v of values) {
        const e = parse(v);
        if (e) return e;
      }
      return undefined;
    },
    async followUpOf(issueKey) {
      return (await redis.get(followUpKey(prefix, issueKey))) ?? undefined;
    },
    async setFollowUp(issueKey, next) {
      await redis.set(followUpKey(prefix, issueKey), next, 'EX', LEDGER_TTL_S);
    },
    async markPending(mailKey) {
      // NX: a mail delivered already (ledger) is never marked again by a re-run.
      if (!(await redis.exists(ledgerKey(prefix, mailKey)))) await redis.set(pendingKey(prefix, mailKey), '1', 'EX', PENDING_TTL_S, 'NX');
    },
    async pendingOf(ids) {
      if (!ids.length) return [];
      const values = await redis.mget(...ids.map((id) => pendingKey(prefix, id)));
      return ids.filter((_, i) => values[i] !== null);
    },
    async bornAt() {
      const k = bornKey(prefix);
      // No TTL: it must outlive every entry it vouches for (a wipe takes it with them).
      await redis.set(k, String(Date.now()), 'NX');
      const v = Number(await redis.get(k));
      return Number.isFinite(v) && v > 0 ? v : Date.now();
    },
    lock: (mailKey, ttlMs) =>
      holdLock(redis, key(prefix, 'deliver', 'lock', mailKey), ttlMs, 0, `another deliverer is delivering this mail right now (${mailKey}); trying again shortly`),
    lockIssue: (issueKey, ttlMs, waitMs = 3_000) =>
      holdLock(redis, key(prefix, 'deliver', 'issue-lock', issueKey), ttlMs, waitMs, `another deliverer is adding a comment to ${issueKey} right now; trying again shortly`),
  };
}

/**
 * SET NX with a token, renewed at a third of its life while held (so it cannot lapse while its
 * holder lives, and lapses on its own when the holder dies); waits up to waitMs for a holder.
 */
async function holdLock(redis: Redis, k: string, ttlMs: number, waitMs: number, busy: string): Promise<() => Promise<void>> {
  const token = randomBytes(8).toString('hex');
  const giveUp = Date.now() + waitMs;
  while (!(await redis.set(k, token, 'PX', ttlMs, 'NX'))) {
    if (Date.now() >= giveUp) throw new RetryableError(busy);
    await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 50)));
  }
  const renew = setInterval(() => {
    redis.eval(RENEW, 1, k, token, String(ttlMs)).catch(() => undefined);
  }, Math.max(100, Math.floor(ttlMs / 3)));
  renew.unref();
  return async () => {
    clearInterval(renew);
    await redis.eval(RELEASE, 1, k, token);
  };
}
