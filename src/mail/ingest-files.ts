// Feeding mail from files (the way in without IMAP): each .eml or mbox message is stored and
// parsed, and comes back as a row. `onMail` is where the pipeline hooks in (enqueueing), so
// the command and tests share this one loop.
import { readFile } from 'node:fs/promises';
import { describeError } from '../core/errors.js';
import { listMailInputs, splitMbox } from './mbox.js';
import type { ParseOptions } from './parse.js';
import { prepareMail } from './prepare.js';
import type { ClassificationKind, MailRecord } from './record.js';
import type { MailStore } from './store.js';

export interface IngestDeps {
  store: MailStore;
  parse?: ParseOptions;
  /** Called with every stored and parsed mail, in order; `source` names the file (and message). */
  onMail?: (record: MailRecord, source: string) => Promise<void>;
}

export interface IngestRow {
  /** The file, with `#n` (1-based) for the n-th message of an mbox file. */
  source: string;
  /** Absent when the file could not be read (then `error` says why). */
  kind?: ClassificationKind;
  reason?: string;
  from?: string;
  subject?: string;
  messageId?: string;
  sha256?: string;
  size?: number;
  error?: string;
}

/**
 * Ingest files and directories. Throws NotFoundError, before reading anything, when a path
 * does not exist. A mail that cannot be parsed is a row (`unparseable`), not an error; a file
 * that cannot be read is a row with `error`.
 */
export async function ingestFiles(paths: readonly string[], deps: IngestDeps): Promise<IngestRow[]> {
  const inputs = await listMailInputs(paths);
  const rows: IngestRow[] = [];
  for (const input of inputs) {
    let data: Buffer;
    try {
      data = await readFile(input.path);
    } catch (e) {
      rows.push({ source: input.path, error: describeError(e) });
      continue;
    }
    const messages = input.kind === 'mbox' ? splitMbox(data) : [data];
    for (const [i, raw] of messages.entries()) {
      const source = input.kind === 'mbox' ? `${input.path}#${i + 1}` : input.path;
      const record = await prepareMail(raw, deps.store, deps.parse);
      if (deps.onMail) await deps.onMail(record, source);
      rows.push(rowOf(source, record));
    }
  }
  return rows;
}

export function rowOf(source: string, r: MailRecord): IngestRow {
  return {
    source,
    kind: r.classification.kind,
    reason: r.classification.reason,
    ...(r.from ? { from: r.from.address } : {}),
    subject: r.subject,
    ...(r.messageId ? { messageId: r.messageId } : {}),
    sha256: r.rawRef.sha256,
    size: r.rawRef.size,
  };
}
