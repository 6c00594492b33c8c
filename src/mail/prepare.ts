// What every reader of mail calls (the IMAP poller, `mailroom ingest`): park the raw bytes in
// the store, parse them once into the bounded record that travels in jobs and, for mail that
// may be delivered, the delivery content, which is stored beside the raw mail before the
// caller enqueues the job (the deliverer then reads it instead of parsing again). The raw
// source is stored first, so even a mail that cannot be parsed is kept and can be looked at.
import type { ParsePool } from './parse-pool.js';
import type { ParseOptions, ReadMail } from './parse.js';
import type { MailRecord, RawRef } from './record.js';
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
  return keepContent(store, await readRaw(raw, rawRef, opts));
}

/** Parse (in the pool when given, else here: parse.ts is loaded only then). */
export async function readRaw(raw: Buffer, rawRef: RawRef, opts: PrepareOptions = {}): Promise<ReadMail> {
  const { pool, ...parse } = opts;
  if (pool) return pool.read(raw, rawRef);
  const { readMail } = await import('./parse.js');
  return readMail(raw, rawRef, parse);
}

/** Store the delivery content beside the raw mail, when the parse made it; the record goes on. */
export async function keepContent(store: MailStore, read: ReadMail): Promise<MailRecord> {
  if (read.content) await store.putContent(read.record.rawRef.sha256, read.content);
  return read.record;
}
