// Parsing off the event loop. A big or hostile mail can keep mailparser busy for seconds;
// on the main thread that stalls BullMQ's lock renewals and IMAP keepalives (design.md). The
// pool parses in worker threads, and a parse that overruns its time is not just abandoned
// but stopped: the thread is terminated and replaced, and the mail becomes `unparseable`.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DEFAULT_MAX_PARSE_BYTES, parseMail, unparseable, type ParseOptions } from './parse.js';
import type { MailRecord, RawRef } from './record.js';
import { threadEntry } from './thread-entry.js';

export interface ParsePoolOptions {
  /** Threads; default: cores - 1 (at least 1), leaving one for the event loop. */
  size?: number;
  /**
   * A parse running longer is stopped and its mail marked unparseable. 20 s is ~50x the
   * slowest corpus mail here and far beyond BullMQ's default 30 s lock only when added to
   * queue waits, which the caller's job lock does not include.
   */
  timeoutMs?: number;
  parse?: ParseOptions;
}

export interface ParsePool {
  /** Never rejects while the pool is open: a failed, crashed or overrun parse is `unparseable`. */
  parse(raw: Buffer, rawRef: RawRef): Promise<MailRecord>;
  /** Why threads could not be started, when they could not (mails are then parsed inline). */
  readonly threadsUnavailable: string | undefined;
  /** The most of a mail this pool parses (its parse options' maxParseBytes). */
  readonly maxParseBytes: number;
  close(): Promise<void>;
}

interface Task {
  id: number;
  raw: Buffer;
  rawRef: RawRef;
  resolve: (r: MailRecord) => void;
}

interface Slot {
  worker: Worker;
  /** Loaded and listening: only then does the clock of a parse start. */
  ready: boolean;
  task?: Task;
  timer?: NodeJS.Timeout;
}

/** Threads that die before they are ready this many times in a row: parse on the caller's thread. */
const MAX_START_FAILURES = 3;

export function createParsePool(opts: ParsePoolOptions = {}): ParsePool {
  const size = opts.size ?? Math.max(1, availableParallelism() - 1);
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const entry = threadEntry(new URL('./parse-worker.js', import.meta.url));
  const queue: Task[] = [];
  const slots: Slot[] = [];
  let nextId = 1;
  let closed = false;
  let startFailures = 0;
  /** Set when threads cannot be started at all: mails are then parsed inline, never left waiting. */
  let broken: string | undefined;

  const spawn = (): Slot => {
    const slot: Slot = { worker: new Worker(entry.script, { eval: entry.eval }), ready: false };
    slot.worker.on('message', (msg: { ready?: true; id: number; record?: MailRecord; error?: string }) => {
      if (msg.ready) {
        slot.ready = true;
        startFailures = 0;
        pump();
        return;
      }
      const task = slot.task;
      if (!task || task.id !== msg.id) return;
      finish(slot, msg.record ?? unparseable(task.raw, task.rawRef, `parse failed in the worker: ${msg.error}`));
    });
    slot.worker.on('error', (e) => replace(slot, `the parser thread failed: ${e.message}`));
    slot.worker.on('exit', (code) => {
      if (!closed && slots.includes(slot)) replace(slot, `the parser thread exited (code ${code})`);
    });
    // Idle threads must not keep a CLI or a test process alive.
    slot.worker.unref();
    return slot;
  };

  const finish = (slot: Slot, record: MailRecord) => {
    clearTimeout(slot.timer);
    const task = slot.task;
    slot.task = undefined;
    task?.resolve(record);
    pump();
  };

  /** Drop a thread that failed or overran, settle its mail as unparseable, start a new one. */
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
    if (task) task.resolve(unparseable(task.raw, task.rawRef, reason));
    if (broken) drainInline();
    else pump();
  };

  const drainInline = () => {
    for (const t of queue.splice(0)) void parseMail(t.raw, t.rawRef, opts.parse).then(t.resolve);
  };

  const pump = () => {
    for (const slot of slots) {
      if (!slot.ready || slot.task || !queue.length) continue;
      const task = queue.shift()!;
      slot.task = task;
      slot.timer = setTimeout(() => replace(slot, `parse did not finish within ${timeoutMs} ms`), timeoutMs);
      slot.worker.postMessage({ id: task.id, raw: task.raw, rawRef: task.rawRef, opts: opts.parse ?? {} });
    }
    // Threads with work in hand (or waiting for them) keep the process alive; idle ones do not.
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
    maxParseBytes: opts.parse?.maxParseBytes ?? DEFAULT_MAX_PARSE_BYTES,
    parse(raw, rawRef) {
      if (closed) return Promise.reject(new Error('the parse pool is closed'));
      if (broken) return parseMail(raw, rawRef, opts.parse);
      return new Promise<MailRecord>((resolve) => {
        queue.push({ id: nextId++, raw, rawRef, resolve });
        pump();
      });
    },
    async close() {
      closed = true;
      const all = slots.splice(0);
      for (const s of all) clearTimeout(s.timer);
      for (const t of queue.splice(0)) t.resolve(unparseable(t.raw, t.rawRef, 'the parse pool closed before this mail was parsed'));
      for (const s of all) if (s.task) s.task.resolve(unparseable(s.task.raw, s.task.rawRef, 'the parse pool closed while parsing'));
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}
