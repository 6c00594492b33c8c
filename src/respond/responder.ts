// The `respond` job: one mail to one customer. Steps, top-down: is it still owed (the
// outbox), may it go (the mailbox's respond settings, the per-recipient hourly ceiling), thread
// it (our Message-ID into the delivery ledger before the mail leaves), send it, record the SMTP
// answer (outbox, audit trail, metrics). A 4xx or an unreachable server is retried; a 5xx is
// final and recorded.
import type { z } from 'zod';
import { RetryableError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import type { Redis } from '../core/redis.js';
import type { MailboxConfig } from '../config/schema.js';
import type { Mailer } from '../notify/mailer.js';
import { issueUrl } from '../notify/message.js';
import { outcomesOfError, outcomesOfSuccess, type PerRecipient, type SmtpAnswer } from '../notify/smtp-outcome.js';
import type { AuditTrail } from '../queues/audit.js';
import type { respond } from '../queues/catalog.js';
import type { Processor, ProcessorContext } from '../queues/worker.js';
import { ackHeaders, ackMessage, plainSubject } from './message.js';
import { isDone, openOutbox, type CustomerMailOutcome } from './outbox.js';
import { takeSend } from './rate.js';

export type RespondJob = z.infer<typeof respond.payload>;

export interface ResponderDeps {
  redis: Redis;
  prefix: string;
  mailer: Mailer;
  mailbox(id: string): MailboxConfig | undefined;
  /** smtp.from: the From when neither respond.from nor a mailbox address is set. */
  smtpFrom: string;
  /** Jira site URL, for the issue link. */
  site: string;
  installId: string;
  audit?: AuditTrail;
  metrics?: Pick<Metrics, 'customerMails'>;
}

export type RespondResult = { outcome: CustomerMailOutcome['state'] | 'already'; to: string; messageId?: string; why?: string };

export function createResponder(deps: ResponderDeps): Processor<RespondJob> {
  return async (data, ctx) => {
    const jobId = String(ctx.job.id);
    const outbox = openOutbox(deps.redis, deps.prefix, jobId);
    const before = await outbox.read(data.to);
    if (isDone(before)) return { outcome: 'already', to: data.to } satisfies RespondResult;

    const mailbox = deps.mailbox(data.mailboxId);
    const settings = mailbox?.respond;
    if (!mailbox || !settings?.acknowledge) {
      return finish(deps, ctx, data, outbox, { state: 'skipped', at: now(), why: mailbox ? 'respond.acknowledge is off now' : `mailbox ${data.mailboxId} is no longer configured` });
    }
    if (!(await takeSend(deps.redis, deps.prefix, data.to, settings.maxPerRecipientPerHour, jobId))) {
      return finish(deps, ctx, data, outbox, { state: 'skipped', at: now(), why: `${data.to} had ${settings.maxPerRecipientPerHour} mails from Mailroom within the hour (respond.maxPerRecipientPerHour)` });
    }
    const from = settings.from ?? mailbox.addresses[0] ?? deps.smtpFrom;
    const messageId = await outbox.messageId(data.to, from.split('@')[1] ?? 'mailroom.invalid');
    await outbox.thread({ messageId, issueKey: data.issueKey, mailboxId: data.mailboxId, jobId, to: data.to });

    const content = ackMessage(settings.templates, {
      key: data.issueKey,
      summary: data.summary,
      subject: plainSubject(data.subject, data.issueKey),
      link: data.link ? issueUrl(deps.site, data.issueKey) : '',
      mailbox: from,
    });
    let answer: PerRecipient;
    try {
      const info = (await deps.mailer.send({
        from,
        recipients: [data.to],
        bcc: false,
        ...content,
        headers: ackHeaders(deps.installId, data.issueKey),
        messageId,
        ...(data.inReplyTo ? { inReplyTo: data.inReplyTo } : {}),
        references: [...data.references, ...(data.inReplyTo && !data.references.includes(data.inReplyTo) ? [data.inReplyTo] : [])].slice(-20),
      })) as SmtpAnswer;
      answer = outcomesOfSuccess([data.to.toLowerCase()], info)[data.to.toLowerCase()]!;
    } catch (e) {
      answer = outcomesOfError([data.to.toLowerCase()], e as SmtpAnswer)[data.to.toLowerCase()]!;
    }
    const at = now();
    const o: CustomerMailOutcome =
      answer.state === 'sent'
        ? { state: 'sent', at, messageId }
        : answer.state === 'failed'
          ? { state: 'failed', at, why: answer.why }
          : { state: 'deferred', at, why: answer.why, tries: (before?.state === 'deferred' ? before.tries : 0) + 1 };
    const result = await finish(deps, ctx, data, outbox, o);
    if (o.state === 'deferred') throw new RetryableError(`the acknowledgement to ${data.to} was not accepted yet (${o.why}); trying again`);
    return result;
  };
}

async function finish(deps: ResponderDeps, ctx: ProcessorContext, data: RespondJob, outbox: ReturnType<typeof openOutbox>, o: CustomerMailOutcome): Promise<RespondResult> {
  await outbox.record(data.to, o);
  deps.metrics?.customerMails.inc({ kind: data.kind, outcome: o.state });
  const detail = o.state === 'sent' ? `accepted by the SMTP server as ${o.messageId ?? ''}` : o.why;
  await deps.audit?.record({
    ...(data.mail ? { mail: data.mail } : {}),
    email: data.to,
    mailboxId: data.mailboxId,
    step: data.kind === 'acknowledge' ? 'acknowledgement' : data.kind,
    outcome: o.state === 'sent' ? 'ok' : o.state,
    jira: data.issueKey,
    detail,
  });
  const log = o.state === 'sent' || o.state === 'skipped' ? ctx.log.info.bind(ctx.log) : ctx.log.warn.bind(ctx.log);
  log({ issueKey: data.issueKey, outcome: o.state, ...(o.state !== 'sent' ? { why: o.why } : {}) }, `${data.kind} ${o.state}`);
  return { outcome: o.state, to: data.to, ...(o.state === 'sent' ? { messageId: o.messageId } : { why: o.why }) };
}

function now(): string {
  return new Date().toISOString();
}
