// The `notify` job: expand the groups through the workaround token, then mail every recipient
// that has no final outcome yet, recording each outcome as it happens. A retry (crash, SMTP
// outage, a recipient deferred with 4xx) therefore reaches only those still owed the mail.
import { NotFoundError, RetryableError } from '../core/errors.js';
import type { JiraClient } from '../jira/client.js';
import { loopDomainOf, notificationDomainOf } from '../mail/loop.js';
import { notify } from '../queues/catalog.js';
import { smtpTokenSource } from '../oauth/tokens.js';
import { defineStation, type RoleBase, type Station, type StationEnv } from '../station/station.js';
import type { Processor } from '../station/worker.js';
import type { Redis } from '../core/redis.js';
import type { NotifyJob } from './enqueue.js';
import { expandRecipients, type Expansion } from './expand.js';
import { isFinal, openLedger, type RecipientOutcome } from './ledger.js';
import { createMailer, smtpTls, type Mailer } from './mailer.js';
import { batches, loopHeaders, stableMessageId, subjectOf, textOf } from './message.js';
import { outcomesOfError, outcomesOfSuccess, type PerRecipient, type SmtpAnswer } from './smtp-outcome.js';

export interface NotifierDeps {
  redis: Redis;
  prefix: string;
  /** The Jira client on the workaround token, asked for before each job (it may have been rotated). */
  jira: () => Promise<Pick<JiraClient, 'groupMembers' | 'getIssue'>>;
  mailer: Mailer;
  from: string;
  /** 1 = one message per recipient; more = BCC batches of this size. */
  bccBatchSize: number;
  /** Jira site URL, for the issue link. */
  site: string;
  /** Written into the loop header, so this install recognises its own mail. */
  installId: string;
  groupCacheTtlMs?: number;
  /** Messages in flight at once (the transport pools 3 connections). */
  sendConcurrency?: number;
}

export interface NotifyResult {
  recipients: number;
  sent: number;
  failed: number;
  /** Delivered or failed on an earlier attempt: not sent again. */
  alreadyDone: number;
  hiddenSkipped: number;
  /** Why each skipped address is not one deliverable address (at most 20). */
  unusable: string[];
  perGroup: Record<string, number>;
  failures: { email: string; why: string }[];
}

export function createNotifier(deps: NotifierDeps): Processor<NotifyJob> {
  return async (data, { log }) => {
    const client = await deps.jira();
    const expansion = await expandRecipients(
      { redis: deps.redis, prefix: deps.prefix, members: (g) => client.groupMembers(g), ttlMs: deps.groupCacheTtlMs },
      data.groups,
      data.users,
    );
    logSkipped(log, expansion);

    const ledger = openLedger(deps.redis, deps.prefix, data.eventId);
    const before = await ledger.read();
    const todo = expansion.recipients.filter((r) => !isFinal(before.get(r)));
    const domain = notificationDomainOf(deps.from);
    const withheld = await summaryWithheld(client, data.issueKey);
    const content = { issueKey: data.issueKey, event: data.event, ...(withheld ? { withheld } : { summary: data.summary }), site: deps.site };
    const subject = subjectOf(content);
    const text = textOf(content);
    const headers = loopHeaders(deps.installId, { domain: loopDomainOf(deps.from), issue: data.issueKey, event: data.event });

    const now: Record<string, PerRecipient> = {};
    const queue = batches(todo, deps.bccBatchSize);
    const sendOne = async (group: string[]) => {
      let result: Record<string, PerRecipient>;
      try {
        const info = (await deps.mailer.send({
          from: deps.from,
          recipients: group,
          bcc: deps.bccBatchSize > 1,
          subject,
          text,
          headers,
          messageId: stableMessageId(data.eventId, group, domain),
        })) as SmtpAnswer;
        result = outcomesOfSuccess(group, info);
      } catch (e) {
        result = outcomesOfError(group, e as SmtpAnswer);
      }
      // Recorded per message, at once: a crash loses at most the messages in flight.
      const at = new Date().toISOString();
      const record: Record<string, RecipientOutcome> = {};
      for (const [email, o] of Object.entries(result)) {
        now[email] = o;
        record[email] = recordOf(o, before.get(email), at);
      }
      await ledger.record(record);
    };
    const workers = Array.from({ length: Math.min(deps.sendConcurrency ?? 3, queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await sendOne(next);
    });
    await Promise.all(workers);

    const outcomes = Object.entries(now);
    const deferred = outcomes.filter(([, o]) => o.state === 'deferred');
    const failed = outcomes.filter((e): e is [string, { state: 'failed'; why: string }] => e[1].state === 'failed');
    for (const [email, o] of failed) log.warn({ email, why: o.why }, 'recipient refused by the SMTP server: not retried');
    const summary: NotifyResult = {
      recipients: expansion.recipients.length,
      sent: outcomes.filter(([, o]) => o.state === 'sent').length,
      failed: failed.length,
      alreadyDone: expansion.recipients.length - todo.length,
      hiddenSkipped: expansion.hiddenSkipped,
      unusable: expansion.unusable,
      perGroup: expansion.perGroup,
      failures: failed.slice(0, 20).map(([email, o]) => ({ email, why: o.why })),
    };
    if (deferred.length) {
      const first = deferred[0]![1] as { why: string };
      log.warn({ deferred: deferred.length, sent: summary.sent }, 'some recipients not delivered yet: retrying them later');
      throw new RetryableError(`${deferred.length} of ${todo.length} recipients not delivered yet (${first.why}); the next attempt mails only them`);
    }
    log.info(summary, 'notification sent');
    return summary;
  };
}

/** What is kept of one recipient's answer: a deferral counts its tries. */
function recordOf(o: PerRecipient, prev: RecipientOutcome | undefined, at: string): RecipientOutcome {
  if (o.state === 'sent') return { state: 'sent', at };
  if (o.state === 'failed') return { state: 'failed', at, why: o.why };
  return { state: 'deferred', at, why: o.why, tries: (prev?.state === 'deferred' ? prev.tries : 0) + 1 };
}

function logSkipped(log: { info(o: object, m: string): void; warn(o: object, m: string): void }, e: Expansion): void {
  if (e.hiddenSkipped) log.info({ hidden: e.hiddenSkipped }, 'group members with hidden emails skipped');
  if (e.unusable.length) log.warn({ unusable: e.unusable }, 'recipients that are not one deliverable address skipped');
}

/**
 * Why the issue's summary is left out of the mail, if it is. Jira mails an issue only to people
 * who may see it; a rule's groups are whoever the admin named, and the token reads them past
 * any issue security level. So a summary goes only when Jira says the issue has no security
 * level; one it will not show the token (a level the workaround user is not in answers 404
 * too) is treated as restricted.
 */
export async function summaryWithheld(client: Pick<JiraClient, 'getIssue'>, issueKey: string): Promise<string | undefined> {
  try {
    const issue = await client.getIssue(issueKey, ['security']);
    const level = issue.fields.security;
    return level === undefined || level === null ? undefined : 'the issue has a security level';
  } catch (e) {
    if (e instanceof NotFoundError) return 'Jira does not show the issue to Mailroom (gone, or restricted)';
    throw e;
  }
}

// ---- The station: notify, on the workaround token and the SMTP pool (src/station/station.ts) ----

/**
 * The configured SMTP server's pool, one per role process: the respond station sends on it too
 * (src/respond/responder.ts). Closed once, after both workers have stopped.
 */
export function sharedMailer({ ctx: { config }, logger, redis, share }: RoleBase): Promise<Mailer> {
  const smtp = config.smtp!;
  return share(
    'smtp',
    () => {
      const tls = smtpTls(smtp);
      if (tls.warning) logger.warn(tls.warning);
      else logger.info(tls.summary);
      return createMailer(smtp, config.secrets.smtpPassword, smtpTokenSource(config, { logger, redis }));
    },
    async (mailer) => mailer.close(),
  );
}

export function notifierStation(): Station {
  return defineStation({
    queue: notify,
    needsToken: true,
    prepare: sharedMailer,
    process: (env, mailer) => createNotifier(notifierDeps(env, mailer)),
  });
}

function notifierDeps({ ctx: { config }, redis, token }: StationEnv, mailer: Mailer): NotifierDeps {
  const smtp = config.smtp!;
  return {
    redis,
    prefix: config.prefix,
    jira: () => token.source.client(),
    mailer,
    from: smtp.from,
    bccBatchSize: smtp.bccBatchSize,
    site: config.jira.site,
    installId: config.prefix,
  };
}
