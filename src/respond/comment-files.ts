// The files of an agent's comment, for the customer's mail (respond.attachments): downloaded
// through the token with each file's cap enforced while reading, and the mail's total kept under
// its own cap. What does not fit, or cannot be read, is named in the mail instead. A network
// failure or a 5xx is thrown (the job is retried, nothing was sent yet); a 403/404 on one file is
// that file's note. Files are fetched once per job, whatever the number of recipients.
import { NotFoundError, PermanentError } from '../core/errors.js';
import type { RespondConfig } from '../config/respond-schema.js';
import type { JiraClient } from '../jira/client.js';
import { attachmentNote, humanSize, issueAttachments, matchMedia, mediaOf, safeFilename, type LeftOut } from './attachments.js';

export interface MailFile {
  filename: string;
  content: Buffer;
  contentType: string;
}

export interface CommentFiles {
  files: MailFile[];
  /** Lines for the mail's text (empty when the comment shows no files). */
  note: string;
}

type Settings = RespondConfig['attachments'];

/** A MIME type from Jira, or a neutral one: a header value must not carry anything else. */
function contentTypeOf(mimeType: string): string {
  return /^[\w.+-]+\/[\w.+-]+$/.test(mimeType) ? mimeType : 'application/octet-stream';
}

export async function commentFiles(
  client: Pick<JiraClient, 'getAttachmentContent'>,
  body: unknown,
  attachmentField: unknown,
  settings: Settings,
): Promise<CommentFiles> {
  if (settings.mode === 'off') return { files: [], note: '' };
  const { refs, more } = mediaOf(body);
  if (!refs.length) return { files: [], note: '' };
  const { found, leftOut } = matchMedia(refs, issueAttachments(attachmentField));
  if (settings.mode === 'links') {
    return { files: [], note: attachmentNote({ attached: [], listed: found.map((a) => ({ filename: safeFilename(a.filename), size: a.size })), leftOut, more }) };
  }
  const files: MailFile[] = [];
  const left: LeftOut[] = [];
  let used = 0;
  for (const a of found) {
    const filename = safeFilename(a.filename);
    const room = Math.min(settings.maxBytes, settings.maxTotalBytes - used);
    const tooLarge = (size?: number): LeftOut =>
      room < settings.maxBytes && (size === undefined || size <= settings.maxBytes)
        ? { name: filename, ...(size !== undefined ? { size } : {}), why: `the mail's files would pass ${humanSize(settings.maxTotalBytes)}` }
        : { name: filename, ...(size !== undefined ? { size } : {}), why: `too large (more than ${humanSize(settings.maxBytes)})` };
    // Jira's stated size first (no download for a file that cannot fit); the read itself is capped too.
    if (a.size > room) {
      left.push(tooLarge(a.size));
      continue;
    }
    let got: { bytes: Buffer } | { tooLarge: true };
    try {
      got = await client.getAttachmentContent(a.id, room);
    } catch (e) {
      if (e instanceof NotFoundError || (e instanceof PermanentError && e.kind === 'permanent')) {
        left.push({ name: filename, why: 'Jira would not give Mailroom this file' });
        continue;
      }
      throw e;
    }
    if ('tooLarge' in got) {
      left.push(tooLarge());
      continue;
    }
    used += got.bytes.length;
    files.push({ filename, content: got.bytes, contentType: contentTypeOf(a.mimeType) });
  }
  return { files, note: attachmentNote({ attached: files.map((f) => ({ filename: f.filename, size: f.content.length })), leftOut: [...leftOut, ...left], more }) };
}
