// What the resolver and the provisioner share: the identity cache, the audit trail, the
// Retry-After gate, the queues they produce into, and how to reach Jira. Built once per
// process from the configuration (workers/*.ts) or by tests with the simulator's credentials.
import type { Queue } from 'bullmq';
import type { Config } from '../config/load.js';
import { ms } from '../config/duration.js';
import type { MailboxConfig, RetryConfig } from '../config/schema.js';
import type { JiraClient } from '../jira/client.js';
import { preferredAccount } from '../jira/match.js';
import type { Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import { createAuditTrail, type AuditTrail } from '../queues/audit.js';
import { createIdentityCache, type IdentityCache } from './cache.js';
import { createRateGate, gated, type RateGate, type RateGateObserver } from '../jira/retry-after.js';

/** The part of the Jira client the pipeline uses. */
export type IdentityClient = Pick<
  JiraClient,
  'findUsersByEmail' | 'createUser' | 'addUserToGroup' | 'createCustomer' | 'addCustomersToServiceDesk'
>;

/** The client to use now, and the token account it acts as (for the audit trail). */
export type JiraProvider = () => Promise<{ client: IdentityClient; account: string }>;

export interface PipelineOptions {
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
  rateGateObserver?: RateGateObserver;
}

export interface Pipeline {
  redis: Redis;
  prefix: string;
  site: string;
  mailbox(id: string): MailboxConfig | undefined;
  cache: IdentityCache;
  audit: AuditTrail;
  gate: RateGate;
  /** The client behind the Retry-After gate, and its token account. */
  jira(): Promise<{ client: IdentityClient; account: string }>;
  logger: Logger;
  retry?: Partial<Record<string, RetryConfig>>;
}

/**
 * The site's host, as it appears in keys and job ids. A port (the simulator's) is kept but
 * written with `_`: BullMQ refuses `:` in custom job ids.
 */
export function siteHost(site: string): string {
  let host: string;
  try {
    host = new URL(site).host;
  } catch {
    host = site;
  }
  return host.toLowerCase().replace(/:/g, '_');
}

export function createPipeline(o: PipelineOptions): Pipeline {
  const site = siteHost(o.site);
  const gate = createRateGate({ redis: o.redis, prefix: o.prefix, site, observer: o.rateGateObserver });
  const byId = new Map(o.mailboxes.map((m) => [m.id, m]));
  const jira = async () => {
    const { client, account } = await o.jira();
    return { client: gated(client, gate), account };
  };
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
    gate,
    jira,
    logger: o.logger,
    retry: o.retry,
  };
}

/** Pipeline options from the loaded configuration. */
export function pipelineOptionsFrom(config: Config, redis: Redis, logger: Logger, jira: JiraProvider): PipelineOptions {
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

export interface PipelineQueues {
  mailInbound: Queue;
  identityProvision: Queue;
  jiraDeliver: Queue;
  mailboxActions?: Queue;
}
