// Watching the workaround token: a live check at start and every `token.checkInterval`,
// warnings from `token.warnBeforeExpiry` before the stored expiry date, an error once it has
// passed. A check that finds the token refused trips the gate (before any mail meets it); a
// check that finds the current token working again (e.g. the key was fixed, a permission
// re-granted) resumes the queues the gate paused for it.
import type { Queue } from 'bullmq';
import type { Config } from '../config/load.js';
import { ms } from '../config/duration.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import { settleBreakers } from './project-breaker.js';
import { checkRecord, checkToken, summarize, type TokenCheckClient, type TokenReport } from './check.js';
import { openTokenQueues, readTokenState, resumeGate, tripGate } from './gate.js';
import { daysLeft } from './input.js';
import type { SecretKey } from './key.js';
import { NoTokenError, readTokenCredentials, readTokenMeta, recordCheck, type TokenCredentials } from './store.js';

const DAY = 86_400_000;

export type ExpiryLevel = 'ok' | 'warn' | 'expired';

/** Pure: how close to expiry a token is. */
export function expiryStatus(expiresAt: Date, now: Date, warnBeforeMs: number): { level: ExpiryLevel; daysLeft: number } {
  const left = expiresAt.getTime() - now.getTime();
  return { level: left <= 0 ? 'expired' : left <= warnBeforeMs ? 'warn' : 'ok', daysLeft: daysLeft(expiresAt, now) };
}

/** For metrics: whole days until the stored token's expiry, undefined when none is stored. */
export async function tokenDaysLeft(redis: Redis, prefix: string, now = new Date()): Promise<number | undefined> {
  const meta = await readTokenMeta(redis, prefix);
  return meta ? daysLeft(new Date(meta.expiresAt), now) : undefined;
}

export interface TokenWatchDeps {
  redis: Redis;
  config: Pick<Config, 'prefix' | 'token' | 'mailboxes'>;
  secretKey: SecretKey;
  logger: Logger;
  makeClient: (creds: TokenCredentials) => TokenCheckClient;
  /** Token queues to pause/resume; default: opened on `redis`. */
  queues?: Queue[];
  now?: () => Date;
}

export interface TokenCheckOutcome {
  report?: TokenReport;
  expiry?: { level: ExpiryLevel; daysLeft: number };
  /** What the check did to the gate. */
  gate: 'unchanged' | 'tripped' | 'resumed';
  /** Set when no check could be made (no token, wrong key...). */
  problem?: string;
}

/** One check: live /myself + /mypermissions, expiry, recorded beside the token and logged. */
export async function runTokenCheck(deps: TokenWatchDeps, queues: Queue[]): Promise<TokenCheckOutcome> {
  const { redis, config, logger } = deps;
  const prefix = config.prefix;
  const log = logger.child({ component: 'token-watch' });
  const now = deps.now?.() ?? new Date();
  let creds: TokenCredentials;
  try {
    creds = await readTokenCredentials(redis, prefix, deps.secretKey);
  } catch (e) {
    const problem = describeError(e);
    if (e instanceof NoTokenError) log.error(problem);
    else log.error({ err: problem }, 'the stored workaround token cannot be read');
    return { gate: 'unchanged', problem };
  }
  const expiry = expiryStatus(new Date(creds.expiresAt), now, ms(config.token.warnBeforeExpiry));
  if (expiry.level === 'expired') {
    log.error({ expiresAt: creds.expiresAt, daysLeft: expiry.daysLeft }, 'the workaround token has expired: create a new one and run `mailroom token rotate`');
  } else if (expiry.level === 'warn') {
    log.warn({ expiresAt: creds.expiresAt, daysLeft: expiry.daysLeft }, `the workaround token expires in ${expiry.daysLeft} days: create a new one and run \`mailroom token rotate\``);
  }
  const report = await checkToken(deps.makeClient(creds), config.mailboxes, now);
  await recordCheck(redis, prefix, creds.version, checkRecord(report));
  // Projects held by their breaker whose refused permission is now held deliver again.
  const resumedProjects = report.authFailed ? [] : await settleBreakers(redis, prefix, report.projects);
  if (resumedProjects.length) log.info({ projects: resumedProjects }, 'the token holds the permissions these projects lacked: resumed their deliveries');
  let gate: TokenCheckOutcome['gate'] = 'unchanged';
  if (report.authFailed) {
    const r = await tripGate(redis, prefix, queues, { reason: `periodic check: ${summarize(report)}`, failedVersion: creds.version, queue: 'token-check', now });
    if (r === 'tripped') gate = 'tripped';
    log.error({ reason: summarize(report) }, 'the workaround token was refused by the periodic check');
  } else if (report.ok) {
    const state = await readTokenState(redis, prefix);
    if (state.paused && (state.tokenVersion === undefined || state.tokenVersion === creds.version)) {
      const resumed = await resumeGate(redis, prefix, queues, `the periodic check found token version ${creds.version} working again`, now);
      if (resumed.length) gate = 'resumed';
      log.info({ queues: resumed }, 'the workaround token works again: resumed the token queues');
    }
    log.info({ account: report.account?.accountId, daysLeft: expiry.daysLeft, warnings: report.warnings }, 'workaround token checked: ok');
  } else if (!report.account) {
    // No answer (or a 5xx): Jira is unreachable, which says nothing about the token.
    log.error({ summary: summarize(report) }, 'the token check got no answer from Jira (see jira on /readyz and `mailroom status`)');
  } else {
    log.error({ summary: summarize(report) }, 'the workaround token lacks what the configuration needs');
  }
  return { report, expiry, gate };
}

export interface TokenWatch {
  checkNow(): Promise<TokenCheckOutcome>;
  stop(): Promise<void>;
}

/** Check now and every `config.token.checkInterval`; a failing check is logged, never thrown. */
export function startTokenWatch(deps: TokenWatchDeps): TokenWatch {
  const ownQueues = !deps.queues;
  const queues = deps.queues ?? openTokenQueues(deps.redis, deps.config.prefix);
  const log = deps.logger.child({ component: 'token-watch' });
  let running: Promise<TokenCheckOutcome> | undefined;
  const checkNow = () => {
    running ??= runTokenCheck(deps, queues).finally(() => {
      running = undefined;
    });
    return running;
  };
  const tick = () => {
    // During a Redis outage a check could only queue behind the reconnect and report, once
    // Redis is back, what it found before (the outage has its own line): the next tick checks.
    if (deps.redis.status !== 'ready' && deps.redis.status !== 'wait') return;
    checkNow().catch((e) => log.error({ err: describeError(e) }, 'token check failed'));
  };
  // An interval shorter than a minute would only hammer /myself; longer than a day misses expiry warnings.
  const every = Math.min(Math.max(ms(deps.config.token.checkInterval), 60_000), DAY);
  const timer = setInterval(tick, every);
  timer.unref();
  tick();
  return {
    checkNow,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
      if (ownQueues) await Promise.all(queues.map((q) => q.close()));
    },
  };
}
