// The deliverer parses each mail whole again (its attachments are wanted, and the text it
// delivers), which costs CPU in proportion to the mail's size. Its event loop renews BullMQ
// job locks and answers /healthz, so that work runs here, in worker threads. A thread that
// overruns is terminated and replaced; its job retries. Mails are parsed on the caller's
// thread only when threads cannot be started at all.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { PermanentError, RetryableError } from '../core/errors.js';
import { threadEntry } from '../mail/thread-entry.js';
import { parseContent, type MailAttachment, type MailContent } from './content.js';

export interface ContentPoolOptions {
  /** Threads; default 1 (2 on machines with 4+ cores): parsing is fast, delivery waits on Jira. */
  size?: number;
  /**
   * A parse running longer is stopped and its job retried. Parsing is linear and capped, so
   * 60 s is far beyond any mail the store accepts; it guards against a wedged thread.
   */
  timeoutMs?: number;
}

export interface ContentPool {
  parse(raw: Buffer): Promise<MailContent>;
  /** Resolves once a thread is up (or threads are given up on), or after `maxWaitMs`. */
  ready(maxWaitMs?: number): Promise<void>;
  readonly threadsUnavailable: string | undefined;
  close(): Promise<void>;
}

interface Task {
  id: number;
  raw: Buffer;
  resolve: (c: MailContent) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  task?: Task;
  timer?: NodeJS.Timeout;
}

type Reply = { ready?: true; id: number; content?: MailContent; error?: string; permanent?: boolean };

const MAX_START_FAILURES = 3;

/** Buffers come back from a thread as plain Uint8Arrays. */
function revive(c: MailContent): MailContent {
  const attachments = c.attachments.map((a): MailAttachment => ({ ...a, content: Buffer.from(a.content.buffer, a.content.byteOffset, a.content.byteLength) }));
  return { ...c, attachments };
}

export function createContentPool(opts: ContentPoolOptions = {}): ContentPool {
  const size = opts.size ?? (availableParallelism() >= 4 ? 2 : 1);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const entry = threadEntry(new URL('./content-worker.js', import.meta.url));
  const queue: Task[] = [];
  const slots: Slot[] = [];
  let nextId = 1;
  let closed = false;
  let startFailures = 0;
  let broken: string | undefined;
  const readyWaiters: (() => void)[] = [];
  const wake = () => {
    for (const w of readyWaiters.splice(0)) w();
  };

  const spawn = (): Slot => {
    const slot: Slot = { worker: new Worker(entry.script, { eval: entry.eval }), ready: false };
    slot.worker.on('message', (msg: Reply) => {
      if (msg.ready) {
        slot.ready = true;
        startFailures = 0;
        wake();
        pump();
        return;
      }
      const task = slot.task;
      if (!task || task.id !== msg.id) return;
      clearTimeout(slot.timer);
      slot.task = undefined;
      if (msg.content) task.resolve(revive(msg.content));
      else task.reject(msg.permanent ? new PermanentError(msg.error ?? 'the mail cannot be parsed') : new RetryableError(`parsing the mail failed: ${msg.error}`));
      pump();
    });
    slot.worker.on('error', (e) => replace(slot, `the parser thread failed: ${e.message}`));
    slot.worker.on('exit', (code) => {
      if (!closed && slots.includes(slot)) replace(slot, `the parser thread exited (code ${code})`);
    });
    slot.worker.unref();
    return slot;
  };

  const replace = (slot: Slot, reason: string) => {
    const i = slots.indexOf(slot);
    if (i < 0) return;
    clearTimeout(slot.timer);
    const task = slot.task;
    slot.task = undefined;
    slots.splice(i, 1);
    void slot.worker.terminate();
    if (!slot.ready && ++startFailures >= MAX_START_FAILURES) broken = reason;
    if (!closed && !broken) slots.push(spawn());
    task?.reject(new RetryableError(reason));
    if (broken) wake();
    if (broken) for (const t of queue.splice(0)) parseContent(t.raw).then(t.resolve, t.reject);
    else pump();
  };

  const pump = () => {
    for (const slot of slots) {
      if (!slot.ready || slot.task || !queue.length) continue;
      const task = queue.shift()!;
      slot.task = task;
      slot.timer = setTimeout(() => replace(slot, `parsing the mail did not finish within ${timeoutMs} ms`), timeoutMs);
      // A buffer that owns its memory (a file read) is handed over, not copied: copying a big
      // mail would be CPU work on this thread. A slice of a shared pool is copied.
      const own = task.raw.byteOffset === 0 && task.raw.byteLength === task.raw.buffer.byteLength && task.raw.buffer instanceof ArrayBuffer;
      slot.worker.postMessage({ id: task.id, raw: task.raw }, own ? [task.raw.buffer as ArrayBuffer] : []);
    }
    for (const slot of slots) {
      if (slot.task || queue.length) slot.worker.ref();
      else slot.worker.unref();
    }
  };

  for (let i = 0; i < size; i++) slots.push(spawn());

  return {
    get threadsUnavailable() {
      return broken;
    },
    ready(maxWaitMs = 30_000) {
      if (broken || slots.some((s) => s.ready)) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const t = setTimeout(resolve, maxWaitMs);
        t.unref();
        readyWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
    parse(raw) {
      if (closed) return Promise.reject(new RetryableError('the content pool is closed'));
      if (broken) return parseContent(raw);
      return new Promise<MailContent>((resolve, reject) => {
        queue.push({ id: nextId++, raw, resolve, reject });
        pump();
      });
    },
    async close() {
      closed = true;
      wake();
      const all = slots.splice(0);
      for (const s of all) clearTimeout(s.timer);
      const gone = new RetryableError('the content pool closed before this mail was parsed');
      for (const t of queue.splice(0)) t.reject(gone);
      for (const s of all) s.task?.reject(gone);
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}
