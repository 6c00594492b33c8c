// IMAP messages into the pipeline: download the raw source, park it in the mail store, parse
// it into a record, and add the mail-inbound job whose id (<mailbox>:<uidvalidity>:<uid>) makes
// a second add a no-op. Memory stays bounded whatever the mail's size: small mails are fetched
// several per round trip, bigger ones are streamed into the store while only their head is
// kept to parse.
import { Transform, type Readable } from 'node:stream';
import type { ImapFlow } from 'imapflow';
import type { Queue } from 'bullmq';
import type { RetryConfig } from '../config/schema.js';
import { keepContent, prepareMail, readRaw } from '../mail/prepare.js';
import { DEFAULT_MAX_PARSE_BYTES } from '../mail/parse-limits.js';
import type { ParseOptions } from '../mail/parse.js';
import type { ParsePool } from '../mail/parse-pool.js';
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
  /** The cursor's epoch (cursor.ts): '' until the server gave out UIDs again. */
  epoch?: string;
  store: MailStore;
  queue: Queue;
  retry?: Partial<Record<string, RetryConfig>>;
  maxMessageBytes: number;
  /** Mails up to this size are read into memory whole; bigger ones are streamed. */
  inMemoryMaxBytes?: number;
  /**
   * Parse in worker threads (src/mail/parse-pool.ts), off the event loop that renews the
   * mailbox lock and keeps the IMAP connection alive. Its parse options must match
   * inMemoryLimit(); a streamed mail cut elsewhere is parsed inline.
   */
  pool?: ParsePool;
  /** This install's notification id domains, when parsed here (the pool has its own). */
  notificationDomains?: readonly string[];
}

// Bigger partial fetches than imapflow's 64 KiB default: fewer round trips for big mails, and
// still a small, fixed amount of memory per chunk.
const DOWNLOAD_CHUNK = 1024 * 1024;
/** Small mails fetched in one FETCH: at most this many bytes together (one round trip each). */
export const FETCH_GROUP_BYTES = 4 * 1024 * 1024;
export const FETCH_GROUP_COUNT = 50;

export function inMemoryLimit(opts: Pick<IngestOptions, 'inMemoryMaxBytes' | 'maxMessageBytes'>): number {
  return Math.min(opts.inMemoryMaxBytes ?? DEFAULT_MAX_PARSE_BYTES, opts.maxMessageBytes);
}

/** Whether a message is read whole into memory (else streamed). Unknown sizes are streamed. */
export function fitsInMemory(meta: MessageMeta, opts: Pick<IngestOptions, 'inMemoryMaxBytes' | 'maxMessageBytes'>): boolean {
  return meta.size !== undefined && meta.size <= inMemoryLimit(opts);
}

/**
 * Split UIDs into fetch groups: consecutive small mails share a FETCH (up to
 * FETCH_GROUP_BYTES / FETCH_GROUP_COUNT); every big one is a group of its own, streamed.
 */
export function fetchGroups(metas: MessageMeta[], opts: Pick<IngestOptions, 'inMemoryMaxBytes' | 'maxMessageBytes'>): { streamed: boolean; metas: MessageMeta[] }[] {
  const groups: { streamed: boolean; metas: MessageMeta[] }[] = [];
  let bytes = 0;
  for (const m of metas) {
    if (!fitsInMemory(m, opts)) {
      groups.push({ streamed: true, metas: [m] });
      continue;
    }
    const last = groups[groups.length - 1];
    if (last && !last.streamed && bytes + (m.size ?? 0) <= FETCH_GROUP_BYTES && last.metas.length < FETCH_GROUP_COUNT) {
      last.metas.push(m);
      bytes += m.size ?? 0;
    } else {
      groups.push({ streamed: false, metas: [m] });
      bytes = m.size ?? 0;
    }
  }
  return groups;
}

/** Raw sources of small mails, one FETCH for the lot. A UID missing from the map is gone. */
export async function fetchSources(client: ImapFlow, uids: number[]): Promise<Map<number, Buffer>> {
  const msgs = await client.fetchAll(uids.join(','), { uid: true, source: true }, { uid: true });
  return new Map(msgs.filter((m) => m.source).map((m) => [m.uid, m.source!]));
}

/** Stream one (big) mail into the store; undefined when it is gone from the server. */
export async function streamToRecord(client: ImapFlow, meta: MessageMeta, opts: IngestOptions): Promise<MailRecord | undefined> {
  const dl = await client.download(String(meta.uid), undefined, { uid: true, chunkSize: DOWNLOAD_CHUNK });
  if (!dl.content) return undefined;
  return finish(await streamed(dl.content, opts.store, inMemoryLimit(opts), opts), opts);
}

/** Store and parse a mail read whole. */
export async function bufferToRecord(raw: Buffer, opts: IngestOptions): Promise<MailRecord> {
  return finish(await prepareMail(raw, opts.store, opts.pool ? { pool: opts.pool } : here(opts)), opts);
}

/** Parse options for a mail parsed on this thread. */
function here(opts: Pick<IngestOptions, 'notificationDomains'>): ParseOptions {
  return opts.notificationDomains ? { notificationDomains: opts.notificationDomains } : {};
}

function finish(record: MailRecord, opts: IngestOptions): MailRecord {
  return record.rawRef.size > opts.maxMessageBytes ? tooLarge(record, opts.maxMessageBytes) : record;
}

/**
 * Add a mail's mail-inbound job, as soon as it is stored and parsed. A job whose id is there
 * already (a rescan, a restart before the cursor moved) makes the add a no-op. A plain add, one
 * script call: an addBulk would be a MULTI, and a MULTI on BullMQ's connection copies its 64
 * scripts first (src/core/redis.ts, queueConnection).
 */
export async function enqueueMail(item: { uid: number; record: MailRecord; internalDate?: Date }, opts: IngestOptions): Promise<string> {
  const { uid, record, internalDate } = item;
  const arrived = internalDate && !Number.isNaN(internalDate.getTime()) ? { internalDate: internalDate.toISOString() } : {};
  const job = await addJob(opts.queue, mailInbound, {
    mailboxId: opts.mailboxId,
    origin: { kind: 'imap' as const, uidvalidity: opts.uidvalidity, uid, ...arrived, ...(opts.epoch ? { epoch: opts.epoch } : {}) },
    record,
    receivedAt: new Date().toISOString(),
  }, opts.retry);
  return String(job.id);
}

/** Stream the whole mail into the store, keeping only its first `headBytes` (+1) to parse. */
async function streamed(stream: Readable, store: MailStore, headBytes: number, opts: Pick<IngestOptions, 'pool' | 'notificationDomains'>): Promise<MailRecord> {
  const { pool } = opts;
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
  // The store's pipeline rejects with tap's error, but does not listen on tap all the time
  // (before it is set up, after it has failed), and pipe() re-throws an error of its destination
  // that nothing else listens for: a download imapflow stopped with bytes still in flight (a
  // server sending more than twice the RFC822.SIZE it announced: DownloadOverflow) was an
  // uncaught exception that ended the poller, every mailbox of it, at each new try.
  tap.on('error', () => undefined);
  const rawRef = await store.putStream(stream.pipe(tap));
  // Only the head was kept: a mail cut there gets no delivery content (the deliverer makes it
  // from the raw mail); one that fit whole does.
  const parse = pool && pool.maxParseBytes === headBytes ? { pool } : { ...here(opts), maxParseBytes: headBytes };
  return keepContent(store, await readRaw(Buffer.concat(head), rawRef, parse));
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
