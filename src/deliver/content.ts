// What delivery needs from the mail store (never from Redis job data): the body text (the
// record only carries a bounded excerpt) and the attachments with their bytes. The poller made
// them from its own parse and stored them beside the raw mail (src/mail/prepare.ts, which
// `mailroom ingest` uses too); a mail stored without them (by an older version, or too big to
// parse whole at intake) has them made from its raw source by `parse`, which the role runs in a worker thread
// of the mail parse pool so its event loop keeps renewing job locks.
import { NotFoundError, PermanentError } from '../core/errors.js';
import type { MailContent } from '../mail/content.js';
import type { MailRecord } from '../mail/record.js';
import type { MailStore } from '../mail/store.js';

export { cutNote, type MailAttachment, type MailContent } from '../mail/content.js';

/** Parses on this thread: only for callers without a pool (tests, tools). */
async function parseHere(raw: Buffer): Promise<MailContent> {
  const { parseContent } = await import('../mail/parse.js');
  return parseContent(raw);
}

/** The content kept beside the raw mail, else made from the raw mail by `parse`. */
export async function loadContent(store: MailStore, record: Pick<MailRecord, 'rawRef'>, parse: (raw: Buffer) => Promise<MailContent> = parseHere): Promise<MailContent> {
  const sha256 = record.rawRef.sha256;
  const kept = await store.getContent(sha256);
  if (kept) return kept;
  let raw: Buffer;
  try {
    raw = await store.get(sha256);
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new PermanentError(`the raw mail ${sha256} is not in the mail store, so its body and attachments cannot be delivered (${e.message})`);
    }
    throw e;
  }
  return parse(raw);
}
