// The compact, typed record of one mail that travels in job payloads. The raw bytes stay in
// the mail store (rawRef points at them); the record is bounded (target <= 16 KB) whatever
// the mail's size. Jobs outlive deploys, so the record carries a version.
import { z } from 'zod';

export const MAX_RECORD_BYTES = 16 * 1024;

export const addressSchema = z.object({
  /** Lower-cased, IDN domain decoded to Unicode? No: punycode-decoded to Unicode form is kept in `address`. */
  address: z.string(),
  name: z.string().optional(),
});
export type Address = z.infer<typeof addressSchema>;

export const attachmentMetaSchema = z.object({
  filename: z.string().optional(),
  contentType: z.string(),
  size: z.number().int().nonnegative(),
  contentId: z.string().optional(),
  inline: z.boolean(),
});
export type AttachmentMeta = z.infer<typeof attachmentMetaSchema>;

export const rawRefSchema = z.object({
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
  size: z.number().int().nonnegative(),
});
export type RawRef = z.infer<typeof rawRefSchema>;

export const classificationKinds = [
  'bounce',
  'feedback-report',
  'auto-reply',
  'list',
  /** Marked as spam by the receiving server (X-Spam-Flag / X-Spam-Status). */
  'spam',
  'own',
  'human',
  'unparseable',
] as const;
export type ClassificationKind = (typeof classificationKinds)[number];

export const classificationSchema = z.object({
  kind: z.enum(classificationKinds),
  /** Why, in words a person can read: the header or part that decided it. */
  reason: z.string(),
  /**
   * Only on `human`: a weak signal (a subject's or body's wording) says this may be machine
   * mail. It is still delivered, but provisions no one and is labelled so agents see why.
   */
  suspected: z.enum(['bounce', 'auto-reply', 'feedback-report', 'list']).optional(),
});
export type Classification = z.infer<typeof classificationSchema>;

export const bounceRecipientSchema = z.object({
  /** Final-Recipient (else Original-Recipient, else X-Failed-Recipients), lower-cased. */
  recipient: z.string().max(320),
  /** failed | delayed | delivered | relayed | expanded (RFC 3464 §2.3.3), or `unknown`. */
  action: z.string().max(20),
  /** The RFC 3463 status code, e.g. 5.1.1. */
  status: z.string().max(20).optional(),
  /** Diagnostic-Code: the remote server's words, one line, bounded. */
  diagnostic: z.string().max(300).optional(),
});
export type BounceRecipient = z.infer<typeof bounceRecipientSchema>;

/** What a bounce says (src/mail/bounce.ts): its CLAIMS, checked against the ledger before use. */
export const bounceReportSchema = z.object({
  /** Message-IDs of the returned mail (without angle brackets), at most 3. */
  ids: z.array(z.string().max(250)).max(3),
  recipients: z.array(bounceRecipientSchema).max(3),
  /** True when the report had an RFC 3464 status part (then only Action: failed is a failure). */
  standard: z.boolean(),
  /** What a cap cut: 'chars', 'fields', 'blocks', 'value', 'recipients', 'ids'. */
  cut: z.array(z.string()).optional(),
});
export type BounceReport = z.infer<typeof bounceReportSchema>;

export const mailRecordSchema = z.object({
  v: z.literal(1),
  rawRef: rawRefSchema,
  messageId: z.string().optional(),
  inReplyTo: z.string().optional(),
  references: z.array(z.string()),
  subject: z.string(),
  /** ISO 8601, when the Date header could be read. */
  date: z.string().optional(),
  from: addressSchema.optional(),
  replyTo: z.array(addressSchema),
  to: z.array(addressSchema),
  cc: z.array(addressSchema),
  /** Text excerpt (text/plain, or text derived from HTML), bounded. */
  text: z.string(),
  textTruncated: z.boolean(),
  /** True when the mail had no text/plain part and the excerpt came from HTML. */
  fromHtml: z.boolean(),
  attachments: z.array(attachmentMetaSchema),
  attachmentsTruncated: z.boolean().default(false),
  /** Only the headers classification needs, lower-cased names, bounded values. */
  headers: z.record(z.string(), z.string()),
  classification: classificationSchema,
  /** The topmost Authentication-Results header values (RFC 8601), compact, bounded; read against the mailbox's trusted host (src/mail/sender-trust.ts). */
  authResults: z.array(z.string()).optional(),
  /** For each authResults entry, how many Received headers lie above it: the hop boundaries (src/mail/auth-results.ts). */
  authHops: z.array(z.number().int().nonnegative()).optional(),
  /** Exchange's X-MS-Exchange-Organization-AuthAs (topmost), lower-cased: `internal` for mail sent inside the tenant. */
  authAs: z.string().optional(),
  /** From addresses in the mail when more than one (two From headers, or a list): the one judged may not be the one used. */
  fromCount: z.number().int().min(2).optional(),
  /**
   * What was cut to keep the record bounded or the parse cheap, when anything was: e.g.
   * 'references', 'to', 'cc', 'headers', 'subject', or 'parse-input' (a huge mail parsed from
   * its head only; the raw source in the store is whole). Text and attachments have their own flags.
   */
  truncated: z.array(z.string()).optional(),
  /** Only on a bounce: which mail came back, to whom it failed and why (the report's claims). */
  bounce: bounceReportSchema.optional(),
  /** Set when mailparser could not make sense of the mail; classification is then `unparseable`. */
  parseError: z.string().optional(),
});
export type MailRecord = z.infer<typeof mailRecordSchema>;
