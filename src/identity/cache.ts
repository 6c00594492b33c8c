// "Does Jira know this email?", asked once per TTL however many mails a sender sends.
// Answers live in Redis keyed by site and lower-cased email: a found account for the positive
// TTL (hours: accounts rarely vanish), "no such user" for the negative TTL (minutes: the
// person may sign up meanwhile). Concurrent lookups of one email cost one Jira request:
// within a process they share one promise, across processes a short Redis lock lets one
// resolver ask while the others wait for its answer to land in the cache.
import { randomBytes } from 'node:crypto';
import { RetryableError } from '../core/errors.js';
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';
import type { JiraAccount } from '../jira/types.js';
import { metrics } from '../core/metrics.js';

export interface CachedAccount {
  accountId: string;
  accountType?: string;
  displayName?: string;
  active?: boolean;
  /** Found through a hidden-email match (a single result without emailAddress). */
  emailHidden?: boolean;
}

export type CacheEntry = { found: true; account: CachedAccount; at: number } | { found: false; at: number };

export type LookupSource = 'cache' | 'jira' | 'coalesced';

/** The Jira question the cache stands in front of. */
export type JiraLookup = (email: string) => Promise<{ account: JiraAccount | null; emailHidden: boolean }>;

export interface IdentityCacheOptions {
  redis: Redis;
  prefix: string;
  /** Jira site host: one cache per site. */
  site: string;
  positiveTtlMs: number;
  negativeTtlMs: number;
  lookup: JiraLookup;
  /** Longer than one Jira request can take (client timeout), so a live holder never loses it. */
  lockMs?: number;
  /** How often a process waiting on another's lookup re-reads the cache. */
  pollMs?: number;
  /** Called once per Jira request actually made (for counters and the audit trail). */
  onJiraLookup?: (email: string, entry: CacheEntry) => void;
}

export interface IdentityCache {
  /** The cached answer, without asking Jira. */
  peek(email: string): Promise<CacheEntry | undefined>;
  /** The cached answer, or Jira's (one request per email however many ask at once). */
  resolve(email: string): Promise<{ entry: CacheEntry; source: LookupSource }>;
  /** Ask Jira now (coalesced and locked like resolve) and overwrite the cached answer. */
  refresh(email: string): Promise<CacheEntry>;
  /** Record an account we know exists (created or found by the provisioner). */
  learn(email: string, account: CachedAccount): Promise<void>;
  forget(email: string): Promise<void>;
}

export function cacheKey(prefix: string, site: string, email: string): string {
  return key(prefix, 'idcache', site, email.trim().toLowerCase());
}

function lockKey(prefix: string, site: string, email: string): string {
  return key(prefix, 'idlock', site, email.trim().toLowerCase());
}

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export function toCached(a: JiraAccount, emailHidden = false): CachedAccount {
  const c: CachedAccount = { accountId: a.accountId, accountType: a.accountType, displayName: a.displayName, active: a.active };
  if (emailHidden) c.emailHidden = true;
  return c;
}

function parseEntry(raw: string | null): CacheEntry | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as CacheEntry;
    if (v && typeof v === 'object' && typeof v.found === 'boolean') return v;
  } catch {
    // a corrupt entry is as good as none: ask Jira again
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createIdentityCache(opts: IdentityCacheOptions): IdentityCache {
  const { redis, prefix, site } = opts;
  // 20 s: above the client's default 15 s timeout, so the holder finishes before it expires.
  const lockMs = opts.lockMs ?? 20_000;
  // 25 ms: a Jira lookup takes tens of ms, so waiters see the answer soon after it lands.
  const pollMs = opts.pollMs ?? 25;
  const inFlight = new Map<string, Promise<{ entry: CacheEntry; source: LookupSource }>>();

  async function peek(email: string): Promise<CacheEntry | undefined> {
    return parseEntry(await redis.get(cacheKey(prefix, site, email)));
  }

  async function store(email: string, entry: CacheEntry): Promise<void> {
    const ttl = entry.found ? opts.positiveTtlMs : opts.negativeTtlMs;
    await redis.set(cacheKey(prefix, site, email), JSON.stringify(entry), 'PX', Math.max(1, ttl));
  }

  /** One Jira request under the cross-process lock; others wait for the answer in the cache. */
  async function askJira(email: string, force: boolean): Promise<{ entry: CacheEntry; source: LookupSource }> {
    const lk = lockKey(prefix, site, email);
    const token = randomBytes(8).toString('hex');
    const started = Date.now();
    const deadline = started + lockMs * 2;
    // A forced refresh accepts only an answer fetched after it was asked for. Strictly after: an
    // answer stored in the same millisecond the refresh began may have been fetched before it.
    const fresh = (e: CacheEntry | undefined) => (e && (!force || e.at > started) ? e : undefined);
    let sawOtherHolder = false;
    for (;;) {
      if (await redis.set(lk, token, 'PX', lockMs, 'NX')) {
        try {
          // Another process may have answered between our miss and our lock.
          const cached = fresh(await peek(email));
          if (cached) return { entry: cached, source: sawOtherHolder ? 'coalesced' : 'cache' };
          const { account, emailHidden } = await opts.lookup(email);
          const entry: CacheEntry = account ? { found: true, account: toCached(account, emailHidden), at: Date.now() } : { found: false, at: Date.now() };
          await store(email, entry);
          opts.onJiraLookup?.(email, entry);
          return { entry, source: 'jira' };
        } finally {
          await redis.eval(RELEASE, 1, lk, token).catch(() => undefined);
        }
      }
      sawOtherHolder = true;
      // Someone else is asking Jira: wait for their answer, or for their lock to go (they failed).
      while (Date.now() < deadline) {
        await sleep(pollMs);
        const cached = fresh(await peek(email));
        if (cached) return { entry: cached, source: 'coalesced' };
        if (!(await redis.exists(lk))) break;
      }
      if (Date.now() >= deadline) throw new RetryableError(`timed out waiting for another process's Jira lookup of ${email}`);
    }
  }

  function coalesced(email: string, force: boolean): Promise<{ entry: CacheEntry; source: LookupSource }> {
    const k = (force ? '!' : '') + email;
    const running = inFlight.get(k);
    if (running) return running.then((r) => ({ ...r, source: 'coalesced' as const }));
    const p = askJira(email, force).finally(() => inFlight.delete(k));
    inFlight.set(k, p);
    return p;
  }

  return {
    peek: (email) => peek(email.trim().toLowerCase()),
    async resolve(raw) {
      const email = raw.trim().toLowerCase();
      const cached = await peek(email);
      if (cached) {
        metrics.cacheLookups.inc({ result: 'hit' });
        return { entry: cached, source: 'cache' };
      }
      // Only an answer that took a Jira request is a miss; one another lookup fetched is a hit.
      const r = await coalesced(email, false);
      metrics.cacheLookups.inc({ result: r.source === 'jira' ? 'miss' : 'hit' });
      return r;
    },
    async refresh(raw) {
      return (await coalesced(raw.trim().toLowerCase(), true)).entry;
    },
    async learn(raw, account) {
      await store(raw.trim().toLowerCase(), { found: true, account, at: Date.now() });
    },
    async forget(raw) {
      await redis.del(cacheKey(prefix, site, raw.trim().toLowerCase()));
    },
  };
}
