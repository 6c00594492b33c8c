// The shape of mailroom.yml. Parsed once at start (src/config/load.ts) into a typed Config;
// nothing else reads the YAML or the environment. Unknown keys are errors (`strict`), so a
// typo never silently turns a setting off.
import { z } from 'zod';
import { TLS_MODES } from './tls.js';
import { oauthSchema } from './oauth-schema.js';
import { ms } from './duration.js';
import { authservId, duration, DURATION, email, emailDomain, envVarName, jiraSite, projectKey, replyAllowedEntry, timerDuration } from './value-schemas.js';
import { respondSchema } from './respond-schema.js';
import { afterSchema, imapAccount, movesIntoReadFolders } from './after-schema.js';

const regexSource = z.string().refine((s) => {
  try {
    new RegExp(s, 'i');
    return true;
  } catch {
    return false;
  }
}, 'a valid regular expression');

/** Exchange Online's IMAP hosts (Microsoft 365). */
export const EXCHANGE_ONLINE_HOSTS = ['outlook.office365.com', 'outlook.office.com'];

export const DEFAULT_BLOCKED_LOCAL_PARTS = [
  '^mailer-daemon$',
  '^postmaster$',
  '^abuse$',
  '^root$',
  '^no-?reply',
  '^do-?not-?reply',
  '^bounces?([+-].*)?$',
];

export const imapSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(993),
    /**
     * implicit (993, the default), starttls, or none. To anything but loopback TLS is required;
     * plain text only with an explicit `none` (see src/config/tls.ts). `true`/`false` are read
     * as implicit/starttls.
     */
    tls: z.union([z.boolean(), z.enum(TLS_MODES)]).default('implicit'),
    /** The login; blanks around it (a quoted copy and paste) are not part of any mailbox's name. */
    user: z.string().trim().min(1),
    /** Name of the environment variable holding the password; the password never sits in YAML. */
    passwordEnv: envVarName('SUPPORT_IMAP_PASSWORD').optional(),
    /** OAuth 2.0 instead of a password (XOAUTH2 / OAUTHBEARER): Microsoft 365, Google Workspace, or a generic token endpoint. */
    auth: oauthSchema.optional(),
    folder: z.string().min(1).default('INBOX'),
  })
  .strict()
  .refine((i) => !!i.passwordEnv !== !!i.auth, { message: 'set exactly one of passwordEnv (a password) or auth (OAuth 2.0)', path: ['passwordEnv'] })
  .superRefine((i, ctx) => {
    // Microsoft turned basic authentication off for IMAP in Exchange Online: a password login
    // there is refused whatever the password, and the mailbox would only be parked.
    if (!i.passwordEnv || !EXCHANGE_ONLINE_HOSTS.includes(i.host.trim().toLowerCase().replace(/\.$/, ''))) return;
    ctx.addIssue({
      code: 'custom',
      path: ['passwordEnv'],
      message: `${i.host} (Microsoft 365) takes no password for IMAP: Microsoft has turned basic authentication off for Exchange Online. Replace passwordEnv with an auth block (provider: microsoft, tenantId, clientId, clientSecretEnv), as docs/oauth-mailboxes.md shows`,
    });
  });

export const policySchema = z
  .object({
    /** What happens to a sender Jira does not know: nothing, a Jira user, or a JSM portal customer. */
    autoCreate: z.enum(['none', 'user', 'customer']).default('none'),
    /** Products sent with user creation (Jira requires the field). */
    products: z.array(z.string().min(1)).default(['jira-software']),
    /** Groups a created user is added to, by name or groupId. */
    groups: z
      .array(
        z.union([
          z.string().min(1).transform((name) => ({ name })),
          z.object({ name: z.string().min(1).optional(), groupId: z.string().min(1).optional() }).strict()
            .refine((g) => g.name || g.groupId, 'a group needs a name or a groupId'),
        ]),
      )
      .default([]),
    /** Service desk a created customer is added to (id as in /rest/servicedeskapi/servicedesk/{id}). */
    serviceDeskId: z.string().regex(/^\d+$/, 'a numeric service desk id such as "1"').optional(),
    allowedDomains: z.array(emailDomain).default([]),
    deniedDomains: z.array(emailDomain).default([]),
    blockedLocalParts: z.array(regexSource).default(DEFAULT_BLOCKED_LOCAL_PARTS),
    /** Which participants are looked up in Jira. */
    resolve: z
      .object({
        sender: z.boolean().default(true),
        to: z.boolean().default(false),
        cc: z.boolean().default(false),
        /** At most this many participants per mail (sender first). */
        max: z.number().int().min(1).max(100).default(10),
      })
      .strict()
      .default({ sender: true, to: false, cc: false, max: 10 }),
    /**
     * Who may add a comment to an existing issue by replying: `participants` (its reporter,
     * watchers, request participants, and replyAllowed) or `anyone`. Others' replies become new
     * issues that name the one they claimed to answer: a subject or In-Reply-To is only a claim.
     */
    replies: z.enum(['participants', 'anyone']).default('participants'),
    /** Addresses (`ann@acme.com`) or domains (`@acme.com`: agents) whose replies always join. */
    replyAllowed: z.array(replyAllowedEntry).default([]),
    /**
     * authserv-ids (RFC 8601) of the receiving mail server(s) whose Authentication-Results are
     * believed, e.g. `mx.example.com`. Any other Authentication-Results header is the sender's claim.
     */
    authservIds: z.array(authservId).default([]),
    /**
     * A sender whose DMARC, SPF or DKIM verdict is fail is never created and never the reporter;
     * its mail is delivered with a warning (`flag`) or held in the failed set for a person (`hold`).
     */
    onAuthFail: z.enum(['flag', 'hold']).default('flag'),
    /**
     * Ceilings on NEW accounts (each is a seat and a foothold). Per mail: a mail naming 99 new
     * Cc addresses creates this many at most. Per sender per hour: accounts any of one sender's
     * mails may create. Per hour for the whole install (counted across every mailbox and
     * process): at this ceiling mail waits until an account leaves the window instead of creating more.
     */
    maxNewAccountsPerMail: z.number().int().min(1).default(5),
    maxNewAccountsPerSenderPerHour: z.number().int().min(1).default(10),
    maxNewAccountsPerHour: z.number().int().min(1).default(50),
    /**
     * The share of maxNewAccountsPerHour that only mail from verified senders may use (0 to 1):
     * a burst of unverified mail (anyone can send it) cannot exhaust the install's ceiling and
     * make the next genuine new customer wait. Every ceiling counts the last hour, sliding.
     */
    newAccountsKeptForVerified: z.number().min(0).max(1).default(0.5),
    /** Mails per hour from one sender beyond which the sender is held, not provisioned. */
    floodLimitPerHour: z.number().int().min(1).default(30),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.autoCreate === 'customer' && !p.serviceDeskId) {
      ctx.addIssue({ code: 'custom', path: ['serviceDeskId'], message: 'required when autoCreate is "customer"' });
    }
  });

/** How mail becomes an issue or comment body (src/deliver/), the same for both routes. */
export const DEFAULT_MAX_ATTACHMENTS = 20;
export const DEFAULT_MAX_ISSUE_KEY_LOOKUPS = 5;
export const RESOLVED_REPLY_MODES = ['comment', 'reopen', 'new-issue'] as const;
export const DEFAULT_RESOLVED_REPLY_WINDOW = '30d';

const deliverKnobs = {
  /**
   * Drop quoted history ("> …", "On … wrote:", Outlook's "-----Original Message-----" / "From: … Sent: …")
   * from comments and follow-up issues, where the issue holds it already; a new issue keeps the whole text.
   */
  stripQuotedHistory: z.boolean().default(true),
  /** Attachments above this are not uploaded but named (file and size) in the issue or comment. 10 MiB: Jira sites often lower the 1 GB default, and mail rarely carries more. */
  maxAttachmentBytes: z.number().int().min(1).default(10 * 1024 * 1024),
  /** Attachments uploaded per mail, at most; the rest are named in the issue or comment. 20: a sender chooses how many parts a mail has (300 parts made 300 uploads), and support mail rarely carries more. */
  maxAttachments: z.number().int().min(0).max(1000).default(DEFAULT_MAX_ATTACHMENTS),
  /** Issue keys in a subject looked up in Jira per mail, at most; the rest are named in the new issue. 5: one lookup each, and a subject can hold hundreds. */
  maxIssueKeyLookups: z.number().int().min(0).max(100).default(DEFAULT_MAX_ISSUE_KEY_LOOKUPS),
  /**
   * A reply to an issue whose status is in the done category (docs/customer-replies.md): 'comment'
   * (the default: a comment, the issue stays resolved; what Mailroom always did, and it needs no
   * permission beyond Add comments), 'reopen' (the comment, then a transition out of done; a
   * reply later than resolvedReplyWindow becomes a new linked issue), 'new-issue' (a new issue
   * linked to the resolved one).
   */
  resolvedReply: z.enum(RESOLVED_REPLY_MODES).default('comment'),
  /** The transition 'reopen' takes, by name or id; default: one out of done, preferring Reopen, then In Progress, then To Do. */
  reopenTransition: z.string().trim().min(1).max(255).optional(),
  /** Under 'reopen': a reply this long after the resolution (resolutiondate) becomes a new linked issue instead. */
  resolvedReplyWindow: duration.refine((v) => !/^\d+(ms|s|m|h|d)$/.test(v) || ms(v) > 0, 'longer than 0').default(DEFAULT_RESOLVED_REPLY_WINDOW),
};

export const deliverSchema = z.union([
  z
    .object({
      project: projectKey,
      issueType: z.string().min(1).default('Task'),
      ...deliverKnobs,
    })
    .strict(),
  z
    .object({
      serviceDeskId: z.string().regex(/^\d+$/, 'a numeric service desk id such as "1"'),
      requestTypeId: z.string().regex(/^\d+$/, 'a numeric request type id such as "10"'),
      /** Project key of the service desk, so replies naming an issue key are recognised. */
      project: projectKey.optional(),
      ...deliverKnobs,
    })
    .strict(),
]);

export const mailboxSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _ (it is used in job ids)'),
    imap: imapSchema.optional(),
    /** The mailbox's own addresses: never resolved as participants. */
    addresses: z.array(email).default([]),
    after: afterSchema.default({ action: 'flag', flag: '$MailroomDone' }),
    /** Larger messages are stored and routed to a clear failure, never silently skipped. */
    maxMessageBytes: z.number().int().min(1024).default(50 * 1024 * 1024),
    /** IMAP resync interval independent of IDLE (IDLE is only a hint). */
    resyncInterval: timerDuration.default('3m'),
    policy: policySchema.default(policySchema.parse({})),
    deliver: deliverSchema.optional(),
    /** Acknowledgements and agents' replies mailed to the customer (docs/customer-replies.md); needs smtp. */
    respond: respondSchema.optional(),
  })
  .strict();

const retrySchema = z
  .object({
    attempts: z.number().int().min(1).max(1000),
    /** First backoff delay; doubles each attempt, with jitter, capped at maxDelay. */
    delay: duration,
    maxDelay: duration,
  })
  .strict();

const notificationRuleSchema = z
  .object({
    project: projectKey,
    events: z
      .array(z.enum(['issue_created', 'issue_updated', 'comment_created']))
      .min(1),
    groups: z.array(z.string().min(1)).default([]),
    users: z.array(email).default([]),
  })
  .strict();

/**
 * How long raw mail stays once no job (nor failed job) needs it, for `mailroom reprocess`;
 * unset means DEFAULT_STORE_RETENTION (src/mail/retention.ts). At least 1h: a mail is stored a
 * moment before its job exists, and must outlive that gap.
 */
// zod runs a refinement on a value whose regex already failed: a malformed duration is left to
// that message here, not thrown out of ms() as a raw error (which bypassed the config's report).
const storeRetention = duration.refine((d) => !DURATION.test(d) || ms(d) >= 3_600_000, 'at least 1h: a mail is stored a moment before its job exists').optional();

export const configSchema = z
  .object({
    jira: z
      .object({
        /** The Jira site, e.g. https://acme.atlassian.net (or JIRA_BASE_URL). */
        site: jiraSite,
        /** Base URL for REST calls when it differs from the site (scoped tokens: https://api.atlassian.com/ex/jira/{cloudId}). */
        apiBase: z.string().url().optional(),
        /** Per-request timeout: a hung Jira must turn into a retry, not a stuck worker. */
        timeout: timerDuration.default('15s'),
        /**
         * After a create whose answer was lost, how long the deliverer keeps looking for the issue
         * it may have made before creating again: Jira's search lags writes by seconds to minutes
         * (docs/jira-index-lag.md). Shorter delivers such a mail sooner and risks a duplicate
         * (the reconcile pass resolves it).
         */
        searchLagWindow: duration.default('150s'),
      })
      .strict(),
    store: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('fs'), dir: z.string().min(1).default('var/mail'), retention: storeRetention }).strict(),
        z.object({ kind: z.literal('redis'), retention: storeRetention }).strict(),
      ])
      .default({ kind: 'fs', dir: 'var/mail' }),
    mailboxes: z.array(mailboxSchema).min(1, 'at least one mailbox'),
    token: z
      .object({
        checkInterval: duration.default('1h'),
        warnBeforeExpiry: duration.default('30d'),
      })
      .strict()
      .default({ checkInterval: '1h', warnBeforeExpiry: '30d' }),
    cache: z
      .object({
        /** A found account is trusted this long. */
        positiveTtl: duration.default('6h'),
        /** "No such user" is trusted only briefly: the person may sign up meanwhile. */
        negativeTtl: duration.default('10m'),
      })
      .strict()
      .default({ positiveTtl: '6h', negativeTtl: '10m' }),
    /** The IMAP poller (src/imap/): its mailbox lock, reconnects and parking. */
    poller: z
      .object({
        /** Mailbox lock lifetime, renewed at a third of it: a dead poller's mailbox is taken over after at most this long. */
        lockTtl: timerDuration.default('30s'),
        /** Reconnect backoff: the first delay, doubled per failure with jitter, capped at reconnectMax. */
        reconnectMin: timerDuration.default('1s'),
        reconnectMax: timerDuration.default('2m'),
        /** Consecutive authentication failures after which a mailbox is parked instead of retried. */
        authFailuresToPark: z.number().int().min(1).default(3),
        /**
         * How often a parked mailbox tries again. The parking is the mailbox's (in Redis): a new
         * lock holder waits too; a restart with a changed password retries at once when the
         * install has a secret key (src/imap/parking.ts).
         */
        parkedRetry: timerDuration.default('10m'),
        /** Poll interval for servers without IDLE. */
        pollInterval: timerDuration.default('30s'),
      })
      .strict()
      .default({ lockTtl: '30s', reconnectMin: '1s', reconnectMax: '2m', authFailuresToPark: 3, parkedRetry: '10m', pollInterval: '30s' }),
    queues: z
      .object({
        'mail-inbound': retrySchema.optional(),
        'identity-provision': retrySchema.optional(),
        'jira-deliver': retrySchema.optional(),
        'mailbox-actions': retrySchema.optional(),
        notify: retrySchema.optional(),
        respond: retrySchema.optional(),
      })
      .strict()
      .default({}),
    smtp: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).default(587),
        secure: z.boolean().default(false),
        /** implicit, starttls or none; default from `secure` (true: implicit, else starttls, required off loopback). */
        tls: z.enum(TLS_MODES).optional(),
        user: z.string().optional(),
        passwordEnv: envVarName('SMTP_PASSWORD').optional(),
        /** OAuth 2.0 (XOAUTH2) instead of a password; `user` names the mailbox that sends. */
        auth: oauthSchema.optional(),
        from: email,
        /** One message per recipient, or BCC batches of this size. */
        bccBatchSize: z.number().int().min(1).max(500).default(1),
      })
      .strict()
      .refine((s) => !(s.auth && s.passwordEnv), { message: 'set passwordEnv or auth, not both', path: ['auth'] })
      .refine((s) => !s.auth || !!s.user, { message: 'required with auth: the mailbox the token sends as', path: ['user'] })
      .optional(),
    notifications: z
      .object({
        /** Env var holding the Jira webhook secret (HMAC). */
        webhookSecretEnv: envVarName('JIRA_WEBHOOK_SECRET').optional(),
        rules: z.array(notificationRuleSchema).default([]),
      })
      .strict()
      .optional(),
    web: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(3000),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 3000 }),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    const read = new Map<string, number>();
    c.mailboxes.forEach((m, i) => {
      if (seen.has(m.id)) ctx.addIssue({ code: 'custom', path: ['mailboxes', i, 'id'], message: `duplicate mailbox id "${m.id}"` });
      seen.add(m.id);
      if (m.imap) {
        // One IMAP folder under two ids: two pollers would read each mail, and each would become Jira work twice.
        const where = `${imapAccount(m.imap)}|${m.imap.folder}`;
        const first = read.get(where);
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['mailboxes', i, 'imap'],
            message: `reads the same mailbox as mailboxes[${first}] ("${c.mailboxes[first]!.id}"): ${m.imap.user} on ${m.imap.host}, folder ${m.imap.folder}; each mail would be read twice and become Jira work twice: remove one of the two entries (list every address the mailbox receives for in its addresses)`,
          });
        } else read.set(where, i);
      }
      if (m.respond && !c.smtp) ctx.addIssue({ code: 'custom', path: ['mailboxes', i, 'respond'], message: 'needs an smtp section (host, port, from) to send mail to customers' });
      if (m.respond && !m.deliver) ctx.addIssue({ code: 'custom', path: ['mailboxes', i, 'respond'], message: 'needs a deliver section: only mail that becomes Jira work is answered' });
    });
    for (const { index, message } of movesIntoReadFolders(c.mailboxes)) ctx.addIssue({ code: 'custom', path: ['mailboxes', index, 'after', 'folder'], message });
  });

export type FileConfig = z.infer<typeof configSchema>;
export type MailboxConfig = z.infer<typeof mailboxSchema>;
export type PolicyConfig = z.infer<typeof policySchema>;
export type RetryConfig = z.infer<typeof retrySchema>;
