// `mailboxes[].respond`: the customer reply loop (src/respond/, docs/customer-replies.md).
// Acknowledgements are on by default once a mailbox has a respond section (a support team
// expects them); without the section nothing is ever sent to customers.
import { z } from 'zod';

/** The placeholders a template may use; anything else in `{{…}}` is a configuration error. */
export const TEMPLATE_FIELDS = ['key', 'summary', 'subject', 'link', 'mailbox'] as const;

const template = z
  .string()
  .min(1)
  .max(20_000)
  .superRefine((t, ctx) => {
    for (const m of t.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)) {
      if (!(TEMPLATE_FIELDS as readonly string[]).includes(m[1]!)) {
        ctx.addIssue({ code: 'custom', message: `unknown placeholder {{${m[1]}}}: use ${TEMPLATE_FIELDS.map((f) => `{{${f}}}`).join(', ')}` });
      }
    }
  });

export const DEFAULT_ACK_SUBJECT = '[{{key}}] {{subject}}';
export const DEFAULT_ACK_TEXT = [
  'Hello,',
  '',
  'we have received your message and opened {{key}} for it: "{{summary}}".',
  'Please keep {{key}} in the subject when you write to us about it; replying to this mail is enough.',
  '{{link}}',
  '',
  '-- ',
  'This is an automatic acknowledgement from {{mailbox}}.',
].join('\n');

const MiB = 1024 * 1024;
/** 25 MiB: what most receiving servers take in one message at all (with base64's third on top). */
export const MAX_ATTACHMENT_CAP = 25 * MiB;

/**
 * The files an agent put in a public comment (its media nodes), on the mail to email-only
 * participants. Default `files`: the comment is public, meant for these very people, and JSM
 * shows a public comment's files to its customers too; only files the comment itself shows are
 * sent, never the issue's other attachments. `links` names them (file and size) without a URL:
 * an email-only participant has no Jira account to open one. `off` sends the text alone.
 */
export const attachmentsSchema = z
  .object({
    mode: z.enum(['files', 'links', 'off']).default('files'),
    /** One file above this is named, not attached. 5 MiB: a screenshot or a PDF, not an archive. */
    maxBytes: z.number().int().min(1).max(MAX_ATTACHMENT_CAP).default(5 * MiB),
    /** All files of one mail; the rest are named. 7 MiB: ~10 MB once base64-encoded, which nearly every mail server takes. */
    maxTotalBytes: z.number().int().min(1).max(MAX_ATTACHMENT_CAP).default(7 * MiB),
  })
  .strict()
  .refine((a) => a.maxBytes <= a.maxTotalBytes, { message: 'maxBytes (one file) cannot be more than maxTotalBytes (the whole mail)', path: ['maxBytes'] });

export const DEFAULT_ATTACHMENTS = { mode: 'files', maxBytes: 5 * MiB, maxTotalBytes: 7 * MiB } as const;

export const respondSchema = z
  .object({
    /** Mail the sender of a new issue its key (default on). */
    acknowledge: z.boolean().default(true),
    /** Mail agents' public comments to the email-only participants (default on). */
    comments: z.boolean().default(true),
    /** The From of the customer mail; default the mailbox's first address, else smtp.from. */
    from: z
      .string()
      .trim()
      .toLowerCase()
      .refine((e) => /^[^\s@]+@[^\s@]+$/.test(e), 'an email address such as support@example.com')
      .optional(),
    /**
     * At most this many mails to one address per sliding hour, across every mailbox and process:
     * a mail loop with another auto-responder, or a flood of forged new issues, cannot turn
     * Mailroom into a spam cannon. 10 leaves room for a busy customer's real conversation.
     */
    maxPerRecipientPerHour: z.number().int().min(1).max(1000).default(10),
    attachments: attachmentsSchema.default(DEFAULT_ATTACHMENTS),
    /**
     * The project role that sees the internal note Mailroom writes when one of its mails to a
     * customer bounces, on a plain Jira issue (`visibility: { type: role }`). JSM requests get
     * JSM's internal note instead. The default exists on every Jira site.
     */
    noteRole: z.string().trim().min(1, 'a project role name such as Administrators').max(255).default('Administrators'),
    templates: z
      .object({
        acknowledgeSubject: template.default(DEFAULT_ACK_SUBJECT),
        acknowledgeText: template.default(DEFAULT_ACK_TEXT),
        /** Optional HTML alternative of the acknowledgement (values are HTML-escaped). */
        acknowledgeHtml: template.optional(),
      })
      .strict()
      .default({ acknowledgeSubject: DEFAULT_ACK_SUBJECT, acknowledgeText: DEFAULT_ACK_TEXT }),
  })
  .strict();

export type RespondConfig = z.infer<typeof respondSchema>;
