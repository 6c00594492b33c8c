// What every reader of mail calls (the IMAP poller, `mailroom ingest`): park the raw bytes in
// the store, then parse them into the bounded record that travels in jobs. The raw source is
// stored first, so even a mail that cannot be parsed is kept and can be looked at.
import { parseMail, type ParseOptions } from './parse.js';
import type { MailRecord } from './record.js';
import type { MailStore } from './store.js';

export async function prepareMail(raw: Buffer, store: MailStore, opts: ParseOptions = {}): Promise<MailRecord> {
  const rawRef = await store.put(raw);
  return parseMail(raw, rawRef, opts);
}
