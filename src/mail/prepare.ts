// What every reader of mail calls (the IMAP poller, `mailroom ingest`): park the raw bytes in
// the store, then parse them into the bounded record that travels in jobs. The raw source is
// stored first, so even a mail that cannot be parsed is kept and can be looked at.
import type { ParsePool } from './parse-pool.js';
import { parseMail, type ParseOptions } from './parse.js';
import type { MailRecord } from './record.js';
import type { MailStore } from './store.js';

export interface PrepareOptions extends ParseOptions {
  /**
   * Parse in this pool's worker threads instead of on the caller's event loop: what a
   * process holding locks or IMAP connections should do (see src/mail/parse-pool.ts).
   * The pool's own parse options then apply.
   */
  pool?: ParsePool;
}

export async function prepareMail(raw: Buffer, store: MailStore, opts: PrepareOptions = {}): Promise<MailRecord> {
  const rawRef = await store.put(raw);
  const { pool, ...parse } = opts;
  return pool ? pool.parse(raw, rawRef) : parseMail(raw, rawRef, parse);
}
