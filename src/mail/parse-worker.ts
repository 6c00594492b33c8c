// The body of a parse-pool thread: do what the pool sends (a record, a record with its
// delivery content, or the content alone) and send the result back. Attachment bytes are
// handed over, not copied, when they own their memory.
import { parentPort } from 'node:worker_threads';
import { PermanentError } from '../core/errors.js';
import type { MailContent } from './content.js';
import { parseContent, readMail, type ParseOptions, type ReadMail } from './parse.js';
import { ownBuffer } from '../core/thread-pool.js';
import type { RawRef } from './record.js';

export interface ParseRequest {
  id: number;
  /** record: the record alone; read: the record and delivery content; content: the content alone. */
  kind: 'record' | 'read' | 'content';
  raw: Uint8Array;
  /** For record and read. */
  rawRef?: RawRef;
  opts?: ParseOptions;
}

export interface ParseReply {
  id: number;
  read?: ReadMail;
  content?: MailContent;
  error?: string;
  /** The content cannot be made from this mail, on any try. */
  permanent?: boolean;
}

parentPort?.postMessage({ ready: true });

parentPort?.on('message', (req: ParseRequest) => {
  const raw = Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength);
  // readMail never throws; the catch is for the impossible, so the pool never waits forever.
  const work = req.kind === 'content' ? parseContent(raw).then((content) => ({ content })) : readMail(raw, req.rawRef!, req.opts, { content: req.kind === 'read' }).then((read) => ({ read }));
  work.then(
    (done: Omit<ParseReply, 'id'>) => reply({ id: req.id, ...done }),
    (e: unknown) => reply({ id: req.id, error: e instanceof Error ? e.message : String(e), permanent: e instanceof PermanentError }),
  );
});

function reply(r: ParseReply): void {
  const content = r.content ?? r.read?.content;
  const transfer = (content?.attachments ?? []).map((a) => a.content).filter(ownBuffer).map((b) => b.buffer as ArrayBuffer);
  parentPort!.postMessage(r, [...new Set(transfer)]);
}
