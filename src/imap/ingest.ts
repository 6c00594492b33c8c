// One IMAP message into the pipeline: download its raw source, park it in the mail store,
// parse it into a record, and add the mail-inbound job whose id (<mailbox>:<uidvalidity>:<uid>)
// makes a second add a no-op. Memory stays bounded whatever the mail's size: small mails are
// read whole, bigger ones are streamed into the store while only their head is kept to parse.
import { Transform, type Readable } from 'node:stream';
import type { ImapFlow } from 'imapflow';
import type { Queue } from 'bullmq';
import type { RetryConfig } from '../config/schema.js';
import { prepareMail } from '../mail/prepare.js';
import { DEFAULT_MAX_PARSE_BYTES, parseMail } from '../mail/parse.js';
import type { MailRecord } from '../mail/record.js';
import type { MailStore } from '../mail/store.js';
import { mailInbound } from '../queues/catalog.js';
import { addJob } from '../queues/queue.js';

export interface MessageMeta {
  uid: number;
  /** RFC822.SIZE as the server reported it. */
  size?: number;
  internalDate?: Date;
}

export interface IngestOptions {
  mailboxId: string;
  uidvalidity: string;
  store: MailStore;
  queue: Queue;
  retry?: Partial<Record<string, RetryConfig>>;
  maxMessageBytes: number;
  /** Mails up to this size are read into memory whole; bigger ones are streamed. */
  inMemoryMaxBytes?: number;
}

export type IngestResult = { outcome: 'enqueued'; record: MailRecord; jobId: string } | { outcome: 'gone' };

// Bigger partial fetches than imapflow's 64 KiB default: fewer round trips for big mails, and
// still a small, fixed amount of memory per chunk.
const DOWNLOAD_CHUNK = 1024 * 1024;

export async function ingestMessage(client: ImapFlow, meta: MessageMeta, opts: IngestOptions): Promise<IngestResult> {
  const dl = await client.download(String(meta.uid), undefined, { uid: true, chunkSize: DOWNLOAD_CHUNK });
  if (!dl.content) return { outcome: 'gone' };
  const inMemoryMax = opts.inMemoryMaxBytes ?? DEFAULT_MAX_PARSE_BYTES;
  const size = meta.size ?? dl.meta.expectedSize ?? 0;
  let record: MailRecord;
  if (size <= inMemoryMax && size <= opts.maxMessageBytes) {
    record = await prepareMail(await collect(dl.content), opts.store);
  } else {
    record = await streamed(dl.content, opts.store, inMemoryMax);
  }
  if (record.rawRef.size > opts.maxMessageBytes) record = tooLarge(record, opts.maxMessageBytes);
  const data = {
    mailboxId: opts.mailboxId,
    origin: { kind: 'imap' as const, uidvalidity: opts.uidvalidity, uid: meta.uid },
    record,
    receivedAt: new Date().toISOString(),
  };
  const jobId = mailInbound.jobId(data);
  // A job with this id already there (a rescan, a restart before the cursor moved): a no-op.
  await addJob(opts.queue, mailInbound, data, opts.retry);
  return { outcome: 'enqueued', record, jobId };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

/** Stream the whole mail into the store, keeping only its first `headBytes` (+1) to parse. */
async function streamed(stream: Readable, store: MailStore, headBytes: number): Promise<MailRecord> {
  const keep = headBytes + 1; // one byte more lets the parser see the mail was cut
  const head: Buffer[] = [];
  let kept = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (kept < keep) {
        const part = chunk.subarray(0, keep - kept);
        head.push(Buffer.from(part));
        kept += part.length;
      }
      cb(null, chunk);
    },
  });
  stream.on('error', (e) => tap.destroy(e));
  const rawRef = await store.putStream(stream.pipe(tap));
  return parseMail(Buffer.concat(head), rawRef, { maxParseBytes: headBytes });
}

/**
 * A mail over the mailbox's size limit is stored (its raw source is kept) and parsed from its
 * head for sender and subject, then marked unparseable with the reason, so the pipeline routes
 * it to the failed set where a person sees it: never skipped silently.
 */
export function tooLarge(record: MailRecord, limit: number): MailRecord {
  const reason =
    `message is ${record.rawRef.size} bytes, over the mailbox limit maxMessageBytes=${limit}: ` +
    `stored (sha256 ${record.rawRef.sha256}) but not processed`;
  return { ...record, classification: { kind: 'unparseable', reason }, parseError: reason };
}
