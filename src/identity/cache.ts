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

type Answer = { entry: CacheEntry; source: LookupSource };

/** The answers kept in Redis, by lower-cased email. */
interface AnswerStore {
  peek(email: string): Promise<CacheEntry | undefined>;
  store(email: string, entry: CacheEntry): Promise<void>;
  forget(email: string): Promise<void>;
}

function answerStore(opts: IdentityCacheOptions): AnswerStore {
  const { redis, prefix, site } = opts;
  return {
    async peek(email) {
      return parseEntry(await redis.get(cacheKey(prefix, site, email)));
    },
    async store(email, entry) {
      const ttl = entry.found ? opts.positiveTtlMs : opts.negativeTtlMs;
      await redis.set(cacheKey(prefix, site, email), JSON.stringify(entry), 'PX', Math.max(1, ttl));
    },
    async forget(email) {
      await redis.del(cacheKey(prefix, site, email));
    },
  };
}

interface LockedLookup {
  opts: IdentityCacheOptions;
  answers: AnswerStore;
  lockMs: number;
  pollMs: number;
}

/** One Jira request under the cross-process lock; others wait for the answer in the cache. */
async function askJira(l: LockedLookup, email: string, force: boolean): Promise<Answer> {
  const { opts, answers } = l;
  const { redis } = opts;
  const lk = lockKey(opts.prefix, opts.site, email);
  const token = randomBytes(8).toString('hex');
  const started = Date.now();
  const deadline = started + l.lockMs * 2;
  // A forced refresh accepts only an answer fetched after it was asked for. Strictly after: an
  // answer stored in the same millisecond the refresh began may have been fetched before it.
  const fresh = (e: CacheEntry | undefined) => (e && (!force || e.at > started) ? e : undefined);
  let sawOtherHolder = false;
  for (;;) {
    if (await redis.set(lk, token, 'PX', l.lockMs, 'NX')) {
      try {
        // Another process may have answered between our miss and our lock.
        const cached = fresh(await answers.peek(email));
        if (cached) return { entry: cached, source: sawOtherHolder ? 'coalesced' : 'cache' };
        return { entry: await lookUpAndStore(l, email), source: 'jira' };
      } finally {
        await redis.eval(RELEASE, 1, lk, token).catch(() => undefined);
      }
    }
    sawOtherHolder = true;
    // Someone else is asking Jira: wait for their answer, or for their lock to go (they failed).
    while (Date.now() < deadline) {
      await sleep(l.pollMs);
      const cached = fresh(await answers.peek(email));
      if (cached) return { entry: cached, source: 'coalesced' };
      if (!(await redis.exists(lk))) break;
    }
    if (Date.now() >= deadline) throw new RetryableError(`timed out waiting for another process's Jira lookup of ${email}`);
  }
}

/** The Jira request itself (the lock held): its answer is cached and reported. */
async function lookUpAndStore(l: LockedLookup, email: string): Promise<CacheEntry> {
  const { account, emailHidden } = await l.opts.lookup(email);
  const entry: CacheEntry = account ? { found: true, account: toCached(account, emailHidden), at: Date.now() } : { found: false, at: Date.now() };
  await l.answers.store(email, entry);
  l.opts.onJiraLookup?.(email, entry);
  return entry;
}

/** Within a process, concurrent asks for one email (and kind) share one promise. */
function coalescing(ask: (email: string, force: boolean) => Promise<Answer>): (email: string, force: boolean) => Promise<Answer> {
  const inFlight = new Map<string, Promise<Answer>>();
  return (email, force) => {
    const k = (force ? '!' : '') + email;
    const running = inFlight.get(k);
    if (running) return running.then((r) => ({ ...r, source: 'coalesced' as const }));
    const p = ask(email, force).finally(() => inFlight.delete(k));
    inFlight.set(k, p);
    return p;
  };
}

export function createIdentityCache(opts: IdentityCacheOptions): IdentityCache {
  const answers = answerStore(opts);
  const locked: LockedLookup = {
    opts,
    answers,
    // 20 s: above the client's default 15 s timeout, so the holder finishes before it expires.
    lockMs: opts.lockMs ?? 20_000,
    // 25 ms: a Jira lookup takes tens of ms, so waiters see the answer soon after it lands.
    pollMs: opts.pollMs ?? 25,
  };
  const coalesced = coalescing((email, force) => askJira(locked, email, force));

  return {
    peek: (email) => answers.peek(email.trim().toLowerCase()),
    async resolve(raw) {
      const email = raw.trim().toLowerCase();
      const cached = await answers.peek(email);
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
      await answers.store(raw.trim().toLowerCase(), { found: true, account, at: Date.now() });
    },
    async forget(raw) {
      await answers.forget(raw.trim().toLowerCase());
    },
  };
}
