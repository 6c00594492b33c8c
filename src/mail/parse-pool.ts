// Parsing off the event loop. A big or hostile mail can keep mailparser busy for seconds; on
// the main thread that stalls BullMQ's lock renewals and IMAP keepalives. One pool,
// two kinds of work: the poller reads a mail into its record and delivery content (`read`),
// and the deliverer makes the content of a mail stored without it (`content`). A parse that
// overruns its time is stopped (thread terminated and replaced): at intake the mail becomes
// `unparseable`, at delivery its job retries. parse.ts (mailparser) is loaded by the threads;
// this thread loads it only when threads cannot be started.
import { availableParallelism } from 'node:os';
import { PermanentError, RetryableError } from '../core/errors.js';
import type { MailAttachment, MailContent } from './content.js';
import type { ParseOptions, ReadMail } from './parse.js';
import { DEFAULT_MAX_PARSE_BYTES } from './parse-limits.js';
import type { ParseReply, ParseRequest } from './parse-worker.js';
import type { MailRecord, RawRef } from './record.js';
import { unparseable } from './record-bound.js';
import { ownBuffer, ThreadPool } from '../core/thread-pool.js';

export interface ParsePoolOptions {
  /** Threads at most; default: cores - 1 (at least 1), leaving one for the event loop. */
  size?: number;
  /**
   * A parse running longer is stopped. 20 s is ~50x the slowest corpus mail here and far
   * beyond BullMQ's default 30 s lock only when added to queue waits, which the caller's job
   * lock does not include.
   */
  timeoutMs?: number;
  /**
   * A thread idle this long is stopped, giving back its memory (a poller waiting for mail
   * holds no parser thread, ~40 MB each); the next mail starts one again, which costs tens of
   * milliseconds (a few hundred under tsx). Default 10 s: a burst keeps its threads.
   */
  idleMs?: number;
  parse?: ParseOptions;
  /** Told once when threads cannot be started (mails are then parsed on the caller's thread). */
  onThreadsUnavailable?: (why: string) => void;
}

export interface ParsePool {
  /** The record alone. Never rejects while the pool is open: a failed, crashed or overrun parse is `unparseable`. */
  parse(raw: Buffer, rawRef: RawRef): Promise<MailRecord>;
  /** The record and, when this parse can make it, the delivery content (see ReadMail). Never rejects while open. */
  read(raw: Buffer, rawRef: RawRef): Promise<ReadMail>;
  /** The delivery content of a raw mail: PermanentError when it cannot be parsed, RetryableError when the thread failed. */
  content(raw: Buffer): Promise<MailContent>;
  /** Resolves once a thread is up (or threads are given up on), or after `maxWaitMs`. */
  ready(maxWaitMs?: number): Promise<void>;
  /** Why threads could not be started, when they could not (mails are then parsed inline). */
  readonly threadsUnavailable: string | undefined;
  /** The most of a mail this pool parses (its parse options' maxParseBytes). */
  readonly maxParseBytes: number;
  /** Threads running now: none before the first mail, none again after idling. */
  readonly threads: number;
  close(): Promise<void>;
}

const CLOSED = 'the parse pool closed before this mail was parsed';
const DEFAULT_IDLE_MS = 10_000;
/**
 * V8's young generation per thread. Its default grows to 64 MB here, all of it resident once a
 * few hundred mails have passed; a parse's garbage is short-lived and small beside that (the
 * big strings and buffers of a big mail live outside it), so a small one costs no speed.
 */
const YOUNG_GENERATION_MB = 8;

export function createParsePool(opts: ParsePoolOptions = {}): ParsePool {
  return new MailParsePool(opts);
}

class MailParsePool implements ParsePool {
  private readonly pool: ThreadPool;
  private readonly parseOpts: ParseOptions;
  private closed = false;
  readonly maxParseBytes: number;

  constructor(opts: ParsePoolOptions) {
    this.pool = new ThreadPool({
      script: new URL('./parse-worker.js', import.meta.url),
      size: opts.size ?? Math.max(1, availableParallelism() - 1),
      timeoutMs: opts.timeoutMs ?? 20_000,
      idleMs: opts.idleMs ?? DEFAULT_IDLE_MS,
      youngGenerationMb: YOUNG_GENERATION_MB,
      ...(opts.onThreadsUnavailable ? { onUnavailable: opts.onThreadsUnavailable } : {}),
    });
    this.parseOpts = opts.parse ?? {};
    this.maxParseBytes = opts.parse?.maxParseBytes ?? DEFAULT_MAX_PARSE_BYTES;
  }

  get threads(): number {
    return this.pool.threads;
  }

  get threadsUnavailable(): string | undefined {
    return this.pool.threadsUnavailable;
  }

  async parse(raw: Buffer, rawRef: RawRef): Promise<MailRecord> {
    return (await this.readAs('record', raw, rawRef)).record;
  }

  read(raw: Buffer, rawRef: RawRef): Promise<ReadMail> {
    return this.readAs('read', raw, rawRef);
  }

  private readAs(kind: 'record' | 'read', raw: Buffer, rawRef: RawRef): Promise<ReadMail> {
    if (this.closed) return Promise.reject(new Error('the parse pool is closed'));
    return new Promise<ReadMail>((resolve) => {
      const message: Omit<ParseRequest, 'id'> = { kind, raw, rawRef, opts: this.parseOpts };
      this.pool.run({
        message,
        answer: (reply) => resolve(readOf(reply as ParseReply, raw, rawRef)),
        fail: (reason) => resolve({ record: unparseable(raw, rawRef, reason) }),
        inline: () => void this.inlineRead(kind, raw, rawRef).then(resolve),
      });
    });
  }

  content(raw: Buffer): Promise<MailContent> {
    if (this.closed) return Promise.reject(new RetryableError('the parse pool is closed'));
    return new Promise<MailContent>((resolve, reject) => {
      // A buffer that owns its memory (a file read) is handed over, not copied: copying a big
      // mail would be CPU work on this thread. A slice of a shared pool is copied.
      const message: Omit<ParseRequest, 'id'> = { kind: 'content', raw };
      this.pool.run({
        message,
        transfer: ownBuffer(raw) ? [raw.buffer as ArrayBuffer] : [],
        answer: (reply) => {
          const r = reply as ParseReply;
          if (r.content) resolve(reviveContent(r.content));
          else reject(r.permanent ? new PermanentError(r.error ?? 'the mail cannot be parsed') : new RetryableError(`parsing the mail failed: ${r.error}`));
        },
        fail: (reason) => reject(new RetryableError(reason)),
        inline: () => void import('./parse.js').then((m) => m.parseContent(raw)).then(resolve, reject),
      });
    });
  }

  ready(maxWaitMs?: number): Promise<void> {
    return this.pool.ready(maxWaitMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close(CLOSED);
  }

  private async inlineRead(kind: 'record' | 'read', raw: Buffer, rawRef: RawRef): Promise<ReadMail> {
    const { readMail } = await import('./parse.js');
    return readMail(raw, rawRef, this.parseOpts, { content: kind === 'read' });
  }
}

function readOf(reply: ParseReply, raw: Buffer, rawRef: RawRef): ReadMail {
  return reply.read ? revive(reply.read) : { record: unparseable(raw, rawRef, `parse failed in the worker: ${reply.error}`) };
}

/** Buffers come back from a thread as plain Uint8Arrays. */
function reviveContent(c: MailContent): MailContent {
  const attachments = c.attachments.map((a): MailAttachment => ({ ...a, content: Buffer.from(a.content.buffer, a.content.byteOffset, a.content.byteLength) }));
  return { ...c, attachments };
}

function revive(r: ReadMail): ReadMail {
  return r.content ? { record: r.record, content: reviveContent(r.content) } : { record: r.record };
}
