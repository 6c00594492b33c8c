// The delivery content of a mail as the store keeps it beside the raw mail (its "companion"):
// the text and the attachments' metadata as JSON, each attachment's bytes as a blob of its own.
// A companion is only a shortcut: one that is missing, torn (a crash while it was written) or
// of an unknown version reads as absent, and the deliverer makes the content from the raw mail.
import { z } from 'zod';
import type { MailAttachment, MailContent } from './content.js';

const companionSchema = z.object({
  v: z.literal(1),
  text: z.string(),
  fromHtml: z.boolean(),
  cut: z.string().optional(),
  attachments: z.array(
    z.object({
      index: z.number().int().nonnegative(),
      filename: z.string(),
      contentType: z.string(),
      size: z.number().int().nonnegative(),
    }),
  ),
});

export interface EncodedCompanion {
  json: string;
  /** One per attachment, in the order of `attachments`. */
  blobs: Buffer[];
}

export function encodeCompanion(content: MailContent): EncodedCompanion {
  const attachments = content.attachments.map(({ index, filename, contentType, size }) => ({ index, filename, contentType, size }));
  const json = JSON.stringify({ v: 1, text: content.text, fromHtml: content.fromHtml, ...(content.cut !== undefined ? { cut: content.cut } : {}), attachments });
  return { json, blobs: content.attachments.map((a) => a.content) };
}

/** The content back, or undefined when the JSON is not one we wrote or a blob is not whole. */
export function decodeCompanion(json: string, blobs: (Buffer | null | undefined)[]): MailContent | undefined {
  let parsed: z.infer<typeof companionSchema>;
  try {
    parsed = companionSchema.parse(JSON.parse(json));
  } catch {
    return undefined;
  }
  if (blobs.length !== parsed.attachments.length) return undefined;
  const attachments: MailAttachment[] = [];
  for (const [i, meta] of parsed.attachments.entries()) {
    const content = blobs[i];
    if (!content || content.length !== meta.size) return undefined;
    attachments.push({ ...meta, content });
  }
  return { text: parsed.text, fromHtml: parsed.fromHtml, ...(parsed.cut !== undefined ? { cut: parsed.cut } : {}), attachments };
}

/** How many blobs a companion's JSON names (so a store can read them), or undefined when unreadable. */
export function blobCount(json: string): number | undefined {
  try {
    const r = companionSchema.safeParse(JSON.parse(json));
    return r.success ? r.data.attachments.length : undefined;
  } catch {
    return undefined;
  }
}
