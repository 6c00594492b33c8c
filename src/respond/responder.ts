// The `respond` job: mail to customers. An acknowledgement is one mail to one sender; an
// agent's comment goes to each email-only participant of the issue. Per mail, top-down: is it
// still owed (the outbox), may it go (the per-recipient hourly ceiling), thread it (our
// Message-ID into the delivery ledger before the mail leaves), send it, record the SMTP answer
// (outbox, audit trail, metrics). A 4xx or an unreachable server is retried; a 5xx is final.
import { loopDomainOf } from '../mail/loop.js';
import type { z } from 'zod';
import { NotFoundError, RetryableError } from '../core/errors.js';
import { key, type Redis } from '../core/redis.js';
import type { MailboxConfig } from '../config/schema.js';
import type { JiraClient } from '../jira/client.js';
import type { Mailer } from '../notify/mailer.js';
import { issueUrl } from '../notify/message.js';
import { outcomesOfError, outcomesOfSuccess, type PerRecipient, type SmtpAnswer } from '../notify/smtp-outcome.js';
import type { AuditTrail } from '../queues/audit.js';
import { metrics, type Metrics } from '../core/metrics.js';
import { sharedMailer } from '../notify/notifier.js';
import { createAuditTrail } from '../queues/audit.js';
import { respond } from '../queues/catalog.js';
import { defineStation, type Station, type StationEnv } from '../station/station.js';
import type { Processor, ProcessorContext } from '../station/worker.js';
import { noteBounce, refusalNote } from './bounce-note.js';
import { commentMailFor, type CommentMail } from './comment.js';
import type { MailFile } from './comment-files.js';
import { ackHeaders, ackMessage, plainSubject } from './message.js';
import { isDone, openOutbox, type CustomerMailOutcome, type Outbox } from './outbox.js';
import { inboxOf, takeSend, WINDOW_MS } from './rate.js';

export type RespondJob = z.infer<typeof respond.payload>;
type AckJob = Extract<RespondJob, { kind: 'acknowledge' }>;

export type ResponderClient = Pick<JiraClient, 'getComment' | 'getIssueProperty' | 'getIssue' | 'myself' | 'addComment' | 'addRequestComment' | 'getAttachmentContent'>;

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
  /** The Jira client on the workaround token (comments only). */
  jira?: () => Promise<ResponderClient>;
  audit?: AuditTrail;
  metrics?: Pick<Metrics, 'customerMails'>;
}

export type RespondResult = { kind: RespondJob['kind']; sent: number; already: number; skipped: number; failed: number; why?: string };

/** One mail to one address, as the steps below send it. */
interface OneMail {
  kind: 'acknowledge' | 'comment';
  mailboxId: string;
  issueKey: string;
  to: string;
  from: string;
  maxPerHour: number;
  mail?: string;
  commentId?: string;
  build(messageId: string): { subject: string; text: string; html?: string; headers: Record<string, string>; inReplyTo?: string; references: string[]; attachments?: MailFile[] };
}

export function createResponder(deps: ResponderDeps): Processor<RespondJob> {
  return async (data, ctx) => {
    if (data.kind === 'bounce') return noteBounce(deps, ctx, data);
    const outbox = openOutbox(deps.redis, deps.prefix, String(ctx.job.id));
    await outbox.keep(data);
    const mails = data.kind === 'acknowledge' ? ackMails(deps, data) : await commentMails(deps, ctx, data);
    const result: RespondResult = { kind: data.kind, sent: 0, already: 0, skipped: 0, failed: 0 };
    if (!Array.isArray(mails)) return { ...result, why: mails.why };
    let deferred: string | undefined;
    for (const m of mails) {
      const o = await sendOne(deps, ctx, outbox, m);
      if (o === 'already') result.already++;
      else if (o.state === 'deferred') deferred ??= `${m.to}: ${o.why}`;
      else result[o.state === 'sent' ? 'sent' : o.state === 'failed' ? 'failed' : 'skipped']++;
    }
    if (deferred) throw new RetryableError(`mail not accepted yet (${deferred}); the next attempt sends only what is still owed`);
    return result;
  };
}

function ackMails(deps: ResponderDeps, data: AckJob): OneMail[] | { why: string } {
  const mailbox = deps.mailbox(data.mailboxId);
  const settings = mailbox?.respond;
  if (!mailbox || !settings?.acknowledge) return { why: mailbox ? 'respond.acknowledge is off now' : `mailbox ${data.mailboxId} is no longer configured` };
  const from = settings.from ?? mailbox.addresses[0] ?? deps.smtpFrom;
  return [
    {
      kind: 'acknowledge',
      mailboxId: data.mailboxId,
      issueKey: data.issueKey,
      to: data.to,
      from,
      maxPerHour: settings.maxPerRecipientPerHour,
      ...(data.mail ? { mail: data.mail } : {}),
      build: () => ({
        ...ackMessage(settings.templates, {
          key: data.issueKey,
          summary: data.summary,
          subject: plainSubject(data.subject, data.issueKey),
          link: data.link ? issueUrl(deps.site, data.issueKey) : '',
          mailbox: from,
        }),
        headers: ackHeaders(deps.installId, data.issueKey, loopDomainOf(deps.smtpFrom)),
        ...(data.inReplyTo ? { inReplyTo: data.inReplyTo } : {}),
        references: [...data.references, ...(data.inReplyTo && !data.references.includes(data.inReplyTo) ? [data.inReplyTo] : [])].slice(-20),
      }),
    },
  ];
}

async function commentMails(deps: ResponderDeps, ctx: ProcessorContext, data: Extract<RespondJob, { kind: 'comment' }>): Promise<OneMail[] | { why: string }> {
  if (!deps.jira) return { why: 'no Jira client: comments cannot be read' };
  const plan: CommentMail | { why: string } = await commentMailFor(await deps.jira(), data.issueKey, data.commentId, deps.mailbox).catch((e: unknown) => {
    if (e instanceof NotFoundError) return { why: `${data.issueKey} comment ${data.commentId} no longer exists (or the token cannot see it)` };
    throw e;
  });
  if ('why' in plan) {
    ctx.log.info({ issueKey: data.issueKey, commentId: data.commentId, why: plan.why }, 'comment not mailed');
    return plan;
  }
  if (plan.dropped) ctx.log.warn({ issueKey: data.issueKey, dropped: plan.dropped }, 'mailOnly entries that are not one plain address Mailroom may mail: left out');
  // A resend to one participant: still only when the issue names them now.
  const to = data.only ? plan.to.filter((a) => a.toLowerCase() === data.only!.toLowerCase()) : plan.to;
  if (!to.length) return { why: `${data.only} is not an email-only participant of ${data.issueKey}: nothing resent` };
  return to.map((to) => ({
    kind: 'comment' as const,
    mailboxId: plan.mailboxId,
    issueKey: data.issueKey,
    to,
    from: plan.from || deps.smtpFrom,
    maxPerHour: plan.maxPerHour,
    ...(plan.mail ? { mail: plan.mail } : {}),
    commentId: data.commentId,
    build: () => plan.message(deps.installId, loopDomainOf(deps.smtpFrom)),
  }));
}

async function sendOne(deps: ResponderDeps, ctx: ProcessorContext, outbox: Outbox, m: OneMail): Promise<CustomerMailOutcome | 'already'> {
  const to = m.to.toLowerCase();
  const before = await outbox.read(to);
  if (isDone(before)) return 'already';
  const jobId = String(ctx.job.id);
  if (!(await takeSend(deps.redis, deps.prefix, to, m.maxPerHour, `${jobId}|${to}`))) {
    const why = `${to} had ${m.maxPerHour} mails from Mailroom within the hour (respond.maxPerRecipientPerHour)`;
    // An agent's answer held back is news to the agents (a late acknowledgement is not).
    if (m.kind === 'comment') await noteHeldBack(deps, ctx, m, jobId, to, why);
    return finish(deps, ctx, outbox, m, { state: 'skipped', at: now(), why });
  }
  const messageId = await outbox.messageId(to, m.from.split('@')[1] ?? 'mailroom.invalid');
  await outbox.thread({ messageId, issueKey: m.issueKey, mailboxId: m.mailboxId, jobId, to });
  const content = m.build(messageId);
  let answer: PerRecipient;
  try {
    const info = (await deps.mailer.send({ from: m.from, recipients: [to], bcc: false, ...content, messageId })) as SmtpAnswer;
    answer = outcomesOfSuccess([to], info)[to]!;
  } catch (e) {
    answer = outcomesOfError([to], e as SmtpAnswer)[to]!;
  }
  const at = now();
  if (answer.state === 'failed') {
    // The customer will not get it: the issue is told, as for a bounce. Queued before the outcome
    // is kept (the job id is fixed by our Message-ID), so a crash between them loses no note.
    await ctx.add(respond, refusalNote({ ...m, refused: 'smtp', subject: m.mail ?? jobId, mail: messageId, why: answer.why, at }));
  }
  return finish(
    deps,
    ctx,
    outbox,
    m,
    answer.state === 'sent'
      ? { state: 'sent', at, messageId }
      : answer.state === 'failed'
        ? { state: 'failed', at, why: answer.why }
        : { state: 'deferred', at, why: answer.why, tries: (before?.state === 'deferred' ? before.tries : 0) + 1 },
  );
}

/**
 * An agent's comment held back by the hourly ceiling: the issue gets an internal note, at most one
 * per address and hour (a loop that keeps meeting the ceiling must not fill the issue with
 * notes). Taken before the note is queued; a retry of the same mail finds the mark its own.
 */
async function noteHeldBack(deps: ResponderDeps, ctx: ProcessorContext, m: OneMail, jobId: string, to: string, why: string): Promise<void> {
  const mark = `${jobId}|${to}`;
  const k = key(deps.prefix, 'respond', 'held-noted', inboxOf(to));
  const taken = (await deps.redis.set(k, mark, 'PX', WINDOW_MS, 'NX')) === 'OK' || (await deps.redis.get(k)) === mark;
  if (!taken) return;
  const resend = `send it once the hour has passed: mailroom respond resend '${jobId}' --to ${to}`;
  await ctx.add(respond, refusalNote({ ...m, refused: 'ceiling', subject: m.mail ?? jobId, mail: mark, why: `${why}; ${resend}`, at: now() }));
}

async function finish(deps: ResponderDeps, ctx: ProcessorContext, outbox: Outbox, m: OneMail, o: CustomerMailOutcome): Promise<CustomerMailOutcome> {
  await outbox.record(m.to, o);
  deps.metrics?.customerMails.inc({ kind: m.kind, outcome: o.state });
  await deps.audit?.record({
    ...(m.mail ? { mail: m.mail } : {}),
    email: m.to,
    mailboxId: m.mailboxId,
    step: m.kind === 'acknowledge' ? 'acknowledgement' : 'comment-mailed',
    outcome: o.state === 'sent' ? 'ok' : o.state,
    jira: m.issueKey,
    detail: o.state === 'sent' ? `accepted by the SMTP server as ${o.messageId ?? ''}` : o.why,
  });
  const fields = { issueKey: m.issueKey, outcome: o.state, ...(o.state !== 'sent' ? { why: o.why } : {}) };
  if (o.state === 'sent' || o.state === 'skipped') ctx.log.info(fields, `${m.kind} ${o.state}`);
  else ctx.log.warn(fields, `${m.kind} ${o.state}`);
  return o;
}

function now(): string {
  return new Date().toISOString();
}

// ---- The station: respond, in the notifier role on its SMTP pool (src/station/station.ts) ----

export function responderStation(): Station {
  return defineStation({
    queue: respond,
    needsToken: true,
    prepare: sharedMailer,
    process: (env, mailer) => createResponder(responderDeps(env, mailer)),
  });
}

function responderDeps({ ctx: { config }, redis, token }: StationEnv, mailer: Mailer): ResponderDeps {
  const byId = new Map(config.mailboxes.map((m) => [m.id, m]));
  return {
    redis,
    prefix: config.prefix,
    mailer,
    mailbox: (id) => byId.get(id),
    smtpFrom: config.smtp!.from,
    site: config.jira.site,
    installId: config.prefix,
    jira: () => token.source.client(),
    audit: createAuditTrail({ redis, prefix: config.prefix }),
    metrics,
  };
}
