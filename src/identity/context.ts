// What the resolver and the provisioner share: the identity cache, the audit trail, a look
// at the queues' jobs (they add jobs through their processor context), and how to reach Jira (clients come gated by the site's
// Retry-After window, src/jira/retry-after.ts, from where they are made). Built once per
// process from the configuration (workers/*.ts) or by tests with the simulator's credentials.
import type { Job } from 'bullmq';
import type { Config } from '../config/load.js';
import { ms } from '../config/duration.js';
import type { MailboxConfig, RetryConfig } from '../config/schema.js';
import type { JiraClient } from '../jira/client.js';
import { preferredAccount } from '../jira/match.js';
import type { Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import { createAuditTrail, type AuditInput, type AuditTrail } from '../queues/audit.js';
import { auditLine, tell } from '../queues/story.js';
import { createIdentityCache, type IdentityCache } from './cache.js';
import { siteHost } from '../jira/site.js';
import { jobReader, type JobReader } from './jobs.js';
import type { StationEnv } from '../station/station.js';
import type { TokenRuntime } from '../token/runtime.js';

/** The part of the Jira client the pipeline uses. */
export type IdentityClient = Pick<
  JiraClient,
  'findUsersByEmail' | 'createUser' | 'addUserToGroup' | 'createCustomer' | 'addCustomersToServiceDesk'
>;

/** The client to use now, and the token account it acts as (for the audit trail). */
export type JiraProvider = () => Promise<{ client: IdentityClient; account: string }>;

export interface IdentityContextOptions {
  redis: Redis;
  prefix: string;
  /** Jira site URL or host; accounts are per site. */
  site: string;
  mailboxes: MailboxConfig[];
  cache: { positiveTtlMs: number; negativeTtlMs: number };
  /** Cross-process lookup lock: longer than one Jira request may take (the client timeout). */
  lookupLockMs?: number;
  jira: JiraProvider;
  logger: Logger;
  retry?: Partial<Record<string, RetryConfig>>;
  /** How long a just-created account may be "user not found" on group add before the job fails naming it (USER_PROPAGATION_MS). */
  userPropagationMs?: number;
}

export interface IdentityContext {
  redis: Redis;
  prefix: string;
  site: string;
  mailbox(id: string): MailboxConfig | undefined;
  cache: IdentityCache;
  audit: AuditTrail;
  /** Other jobs, by queue: read only (processors add through ctx.add). Closed by whoever made the pipeline. */
  jobs: JobReader;
  /** The client (behind the site's Retry-After gate, applied where clients are made), and its token account. */
  jira(): Promise<{ client: IdentityClient; account: string }>;
  logger: Logger;
  retry?: Partial<Record<string, RetryConfig>>;
  userPropagationMs?: number;
}

export function createIdentityContext(o: IdentityContextOptions): IdentityContext {
  const site = siteHost(o.site);
  const byId = new Map(o.mailboxes.map((m) => [m.id, m]));
  const jira = o.jira;
  const cache = createIdentityCache({
    redis: o.redis,
    prefix: o.prefix,
    site,
    positiveTtlMs: o.cache.positiveTtlMs,
    negativeTtlMs: o.cache.negativeTtlMs,
    ...(o.lookupLockMs ? { lockMs: o.lookupLockMs } : {}),
    async lookup(email) {
      const { client } = await jira();
      const r = await client.findUsersByEmail(email);
      return { account: preferredAccount(r.accounts), emailHidden: r.emailHidden };
    },
  });
  return {
    redis: o.redis,
    prefix: o.prefix,
    site,
    mailbox: (id) => byId.get(id),
    cache,
    audit: createAuditTrail({ redis: o.redis, prefix: o.prefix }),
    jobs: jobReader(o.redis, o.prefix),
    jira,
    logger: o.logger,
    retry: o.retry,
    ...(o.userPropagationMs !== undefined ? { userPropagationMs: o.userPropagationMs } : {}),
  };
}

/**
 * The pipeline's view of the token runtime: a client on the current token and its account. Both
 * reads go out together (each is one Redis round trip): this runs before every Jira lookup and
 * every provision job, on the path a new sender waits on (issue #25, docs/benchmarks.md).
 */
export function tokenJira(token: Pick<TokenRuntime, 'source'>): JiraProvider {
  return async () => {
    const [client, creds] = await Promise.all([token.source.client(), token.source.credentials()]);
    return { client, account: creds.email };
  };
}

/** What a resolver or provisioner station works with, on its role's connection and token. */
export function identityContextOf({ ctx, redis, logger, token }: StationEnv): IdentityContext {
  return createIdentityContext(identityOptionsFrom(ctx.config, redis, logger, tokenJira(token)));
}

/** IdentityContext options from the loaded configuration. */
export function identityOptionsFrom(config: Config, redis: Redis, logger: Logger, jira: JiraProvider): IdentityContextOptions {
  return {
    redis,
    prefix: config.prefix,
    site: config.jira.site,
    mailboxes: config.mailboxes,
    cache: { positiveTtlMs: ms(config.cache.positiveTtl), negativeTtlMs: ms(config.cache.negativeTtl) },
    // The client gives up after jira.timeout; a little more, so a live holder never loses the lock.
    lookupLockMs: ms(config.jira.timeout) + 2_000,
    jira,
    logger,
    retry: config.queues,
  };
}

export interface JobAudit {
  record(ev: AuditInput): Promise<void>;
}

/** The audit trail of one job: every entry is also a line in the job's log tab on the board. */
export function jobAudit(p: Pick<IdentityContext, 'audit'>, job: Pick<Job, 'log'>): JobAudit {
  return {
    async record(ev) {
      await Promise.all([p.audit.record(ev), tell(job, auditLine(ev))]);
    },
  };
}
