// Every Mailroom queue, declared once: payload, job id, retry policy and worker settings (the
// README's "How mail flows" says who produces and consumes each). Job ids make a second add of
// the same work a no-op.
import { z } from 'zod';
import { MAX_IMAP_UID, actionJobId, auditSubjectOf, deliverJobId, inboundJobId, jobId, mailRef } from '../mail/ref.js';
import { bounceRecipientSchema, mailRecordSchema } from '../mail/record.js';
import { defineQueue } from './define.js';
import { clip, mailLabel } from './label.js';

// Defaults ride out an hour-long Jira incident: 5 s doubling to a 10 min cap over 20 attempts
// is about 2.4 hours of trying before a mail lands in the failed set.
const JIRA_RETRY = { attempts: 20, delay: '5s', maxDelay: '10m' } as const;

// Resolve and provision jobs keep their progress in job data and every step is idempotent, so
// a job whose worker died may be picked up again several times before it is judged broken.
const PIPELINE_MAX_STALLED = 10;

export const mailOriginSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('imap'),
    uidvalidity: z.string().regex(/^\d+$/),
    uid: z.number().int().positive(),
    /**
     * The server's INTERNALDATE (ISO): when the mail reached the mailbox. Set by the receiving
     * server, not the sender; the deliverer compares it with its ledger's age to know whether an
     * earlier (wiped) ledger may have delivered it. Absent in jobs from before it was added.
     */
    internalDate: z.string().optional(),
    /** Set after the server gave out UIDs again under one UIDVALIDITY (imap/cursor.ts): part of the job id. */
    epoch: z.string().regex(/^\d+$/).optional(),
  }),
  z.object({ kind: z.literal('file'), name: z.string().optional() }),
]);
export type MailOrigin = z.infer<typeof mailOriginSchema>;

export const mailInbound = defineQueue({
  name: 'mail-inbound',
  payload: z.object({
    mailboxId: z.string(),
    origin: mailOriginSchema,
    record: mailRecordSchema,
    receivedAt: z.string(),
  }),
  jobId: (d) => inboundJobId(mailRef(d)),
  retry: JIRA_RETRY,
  needsToken: true,
  label: (d) => mailLabel(d.mailboxId, d.record.from?.address, d.record.subject),
  // The resolver's entries name the mail by its Message-ID, or by the job id without one.
  audit: { step: 'resolve-failed', subject: (d) => ({ mail: auditSubjectOf(mailRef(d)), mailboxId: d.mailboxId }) },
  // Resolver jobs mostly wait on Redis and a cached lookup: many at once are cheap.
  worker: { concurrency: 25, maxStalledCount: PIPELINE_MAX_STALLED },
});

export const identityProvision = defineQueue({
  name: 'identity-provision',
  payload: z.object({
    /** Jira site host, e.g. acme.atlassian.net: one account per site and email. */
    site: z.string(),
    email: z.string(),
    displayName: z.string().optional(),
    mode: z.enum(['user', 'customer']),
    mailboxId: z.string(),
    /** The mail that asked for it, for the audit trail. */
    messageId: z.string().optional(),
  }),
  jobId: (d) => jobId('provision', d.site, d.email.toLowerCase()), // a person's id, not a mail's
  retry: JIRA_RETRY,
  needsToken: true,
  label: (d) => `${d.mode === 'user' ? 'Jira user' : 'JSM customer'} for ${clip(d.email, 60)} (${d.mailboxId})`,
  // New senders' mails wait on these jobs (issue #25: a burst of new senders must have accounts
  // within a second). Provision jobs arrive as fast as new senders' first mails do (50/s in the
  // burst) and each holds its slot for two Jira writes plus ~15 Redis round trips: 8 slots
  // cleared ~20 jobs/s on a loaded machine and a queue built up; 32 clear the burst. Jira's
  // limits stay respected: a 429 holds every job behind the shared Retry-After gate, and the
  // new-account ceilings are checked before a job is added (docs/resolving-and-provisioning.md).
  worker: { concurrency: 32, maxStalledCount: PIPELINE_MAX_STALLED },
});

export const resolvedPersonSchema = z.object({
  email: z.string(),
  role: z.enum(['sender', 'to', 'cc']),
  /** One of PersonStatus (src/identity/resolve-run.ts): known | provisioned | ignored | held | gave-up. */
  status: z.string(),
  accountId: z.string().optional(),
  reason: z.string().optional(),
});
export type ResolvedPerson = z.infer<typeof resolvedPersonSchema>;

export const jiraDeliver = defineQueue({
  name: 'jira-deliver',
  payload: z.object({
    mailboxId: z.string(),
    origin: mailOriginSchema,
    record: mailRecordSchema,
    /** The mail's participants as the resolver left them (reporter = the sender's accountId). */
    people: z.array(resolvedPersonSchema).optional(),
  }),
  // BullMQ refuses custom ids with ':' (unless exactly two), and Message-IDs may hold some
  // (<urn:uuid:…>): those become '_'. The deliverer's ledger keys on the real Message-ID.
  jobId: (d) => deliverJobId(mailRef(d)),
  retry: JIRA_RETRY,
  needsToken: true,
  label: (d) => mailLabel(d.mailboxId, d.record.from?.address, d.record.subject, 'to Jira from '),
  // The deliverer's entries name the mail by mailKey (its Message-ID, or sha256:<hash>).
  audit: { step: 'deliver-failed', subject: (d) => ({ mail: auditSubjectOf(mailRef(d)), mailboxId: d.mailboxId }) },
  worker: {
    // Each delivery is a few Jira writes plus uploads: a handful in parallel keeps Jira's rate
    // limits at bay while hiding its latency.
    concurrency: 8,
    // Deliveries are idempotent (ledger, issue property, steps in job data), so running a job
    // again after its worker died is safe; BullMQ's default of 1 would fail a mail whose worker
    // crashed twice, which helps nobody.
    maxStalledCount: 10,
  },
});

export const mailboxActions = defineQueue({
  name: 'mailbox-actions',
  payload: z.object({
    mailboxId: z.string(),
    uidvalidity: z.string(),
    // IMAP UIDs are 32-bit: a larger one names no message, and a SEARCH naming it is refused
    // (which failed every job batched with it: src/imap/actions.ts).
    uid: z.number().int().positive().max(MAX_IMAP_UID),
    /** The terminal state that asks for the action. */
    outcome: z.enum(['delivered', 'classified', 'failed']),
    /** The mail's origin epoch (imap/cursor.ts), part of the job id; absent before any UID reuse. */
    epoch: z.string().regex(/^\d+$/).optional(),
  }),
  jobId: (d) => actionJobId(d.mailboxId, d.uidvalidity, d.uid, d.epoch),
  // IMAP outages are usually short; retry for about an hour.
  retry: { attempts: 15, delay: '5s', maxDelay: '5m' },
  needsToken: false,
  label: (d) => `${d.mailboxId} UID ${d.uid}: finish (${d.outcome})`,
  // A mailbox's actions go out together on its one connection (imap/actions.ts): the jobs in
  // hand while a turn runs make up the next turn's batch, so more in hand means fewer commands.
  worker: { concurrency: 32 },
});

export const notify = defineQueue({
  name: 'notify',
  payload: z.object({
    issueKey: z.string(),
    event: z.string(),
    groups: z.array(z.string()),
    users: z.array(z.string()),
    /** Stable id of the triggering event (webhook id or CLI invocation), for idempotency. */
    eventId: z.string(),
    /** The issue's summary when the trigger knew it (webhooks do), for the subject line. */
    summary: z.string().max(500).optional(),
  }),
  jobId: (d) => jobId('notify', d.eventId),
  retry: { attempts: 12, delay: '10s', maxDelay: '10m' },
  needsToken: true,
  label: (d) => `${d.issueKey} ${d.event}${d.summary ? ` "${clip(d.summary, 50)}"` : ''} to ${clip([...d.groups, ...d.users].join(', '), 50) || 'nobody'}`,
  // Notify jobs spend their time waiting on SMTP; a few at once keep a big group from holding
  // up the next issue, while each job already sends over 3 pooled connections.
  worker: { concurrency: 4 },
});

const acknowledgeJob = z.object({
  /** The acknowledgement of a new issue, to its sender. */
  kind: z.literal('acknowledge'),
  mailboxId: z.string(),
  issueKey: z.string(),
  /** One recipient per job: outcomes, rate limits and resends are per address. */
  to: z.string(),
  summary: z.string().max(500),
  /** The customer's subject, for ours. */
  subject: z.string().max(1000),
  /** The customer's Message-ID and References, so the mail threads under theirs. */
  inReplyTo: z.string().optional(),
  references: z.array(z.string()).max(20),
  /** Whether the recipient may open the issue in Jira (has an account): then the mail links it. */
  link: z.boolean(),
  /** The customer mail's audit subject (its Message-ID key), so `mailroom audit` shows the reply. */
  mail: z.string().optional(),
  /** Set by `mailroom respond resend`: a new job id, so a mail already sent goes again. */
  resend: z.string().optional(),
});

const commentJob = z.object({
  /** An agent's comment (Jira webhook comment_created), to the issue's email-only participants. */
  kind: z.literal('comment'),
  issueKey: z.string(),
  commentId: z.string().regex(/^\d+$/),
  /** Set by `mailroom respond resend`: a new job id, so a mail already sent goes again. */
  resend: z.string().optional(),
  /**
   * Set by `mailroom respond resend --to`: mail only this one of the issue's email-only
   * participants (still read from the issue: an address that is not one gets nothing).
   */
  only: z.string().optional(),
});

const bounceJob = z.object({
  /**
   * A bounce of a mail Mailroom sent (src/identity/bounce.ts found its Message-ID in the ledger):
   * an internal note on the issue. Nothing is mailed.
   */
  kind: z.literal('bounce'),
  mailboxId: z.string(),
  issueKey: z.string(),
  /** The bounce mail's key (mailKey): its audit subject and part of the job id. */
  bounceMail: z.string().max(300),
  /** sha256 of our Message-ID, hex: the job id names our mail without showing its id. */
  ourKey: z.string().regex(/^[a-f0-9]{64}$/),
  /** What we had sent (the respond job that sent it) and to whom, from the ledger. */
  sent: z.object({ kind: z.enum(['acknowledge', 'comment', 'other']), commentId: z.string().max(40).optional(), to: z.string().max(320), at: z.string().max(40) }),
  /** The report's claims (src/mail/bounce.ts), bounded. */
  recipients: z.array(bounceRecipientSchema).max(3),
  /** Who sent the report, and when it says (its Date), for the note. */
  reporter: z.string().max(320).optional(),
  reportedAt: z.string().max(40).optional(),
  /**
   * Not a report: the mail did not go (src/respond/responder.ts). `smtp`: the SMTP server refused
   * it for good when it was handed over; `ceiling`: held back by respond.maxPerRecipientPerHour.
   * `recipients[0].diagnostic` says why.
   */
  refused: z.enum(['smtp', 'ceiling']).optional(),
});

export const respond = defineQueue({
  name: 'respond',
  payload: z.discriminatedUnion('kind', [acknowledgeJob, commentJob, bounceJob]),
  jobId: (d) =>
    jobId(
      ...(d.kind === 'acknowledge'
        ? ['respond', d.kind, d.mailboxId, d.issueKey, d.to.toLowerCase(), ...(d.resend ? [d.resend] : [])]
        : d.kind === 'comment'
          ? ['respond', d.kind, d.issueKey, d.commentId, ...(d.only ? [d.only.toLowerCase()] : []), ...(d.resend ? [d.resend] : [])]
          : ['respond', d.kind, d.bounceMail, d.ourKey]),
    ),
  retry: { attempts: 12, delay: '10s', maxDelay: '10m' },
  // Comments are read through the token (is it public? who wrote it?): these jobs wait with the
  // other token queues while the token is being fixed.
  needsToken: true,
  label: (d) =>
    d.kind === 'acknowledge'
      ? `${d.issueKey} acknowledge to ${clip(d.to, 60)}${d.resend ? ' (resent)' : ''}`
      : d.kind === 'comment'
        ? `${d.issueKey} comment ${d.commentId} to ${d.only ? clip(d.only, 60) : 'its mail-only participants'}${d.resend ? ' (resent)' : ''}`
        : `${d.issueKey} internal note: ${d.sent.kind} to ${clip(d.sent.to, 60)} bounced`,
  // Each job is one SMTP message or a handful; a few at once hide the server's latency.
  worker: { concurrency: 4 },
});

export const allQueues = [mailInbound, identityProvision, jiraDeliver, mailboxActions, notify, respond] as const;
export const tokenQueues = allQueues.filter((q) => q.needsToken);
