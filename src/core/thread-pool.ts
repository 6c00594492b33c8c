// Worker threads for CPU work that must not hold an event loop (the mail parse pool is built
// on it). Threads start when there is work, not before, and stop after idling a while: a
// thread with mailparser loaded holds tens of MB, which an idle poller should give back. A
// task that overruns its time is not just abandoned but stopped: its thread is terminated.
// When threads cannot be started at all, tasks run on the caller's thread rather than wait.
import { Worker } from 'node:worker_threads';
import { threadEntry } from './thread-entry.js';

/** One piece of work; the pool settles it exactly once, by one of the three. */
export interface PoolTask {
  /** What the thread is sent (the pool adds the id). */
  message: Record<string, unknown>;
  /** Buffers handed over rather than copied. */
  transfer?: ArrayBuffer[];
  /** The thread's answer (its message, as the thread's module defines it). */
  answer(reply: unknown): void;
  /** The thread failed or overran, or the pool closed: why. */
  fail(reason: string): void;
  /** Threads cannot be started: do the work on this thread. */
  inline(): void;
}

export interface ThreadPoolOptions {
  /** The thread's module, as `new URL('./x.js', import.meta.url)`. */
  script: URL;
  /** Threads at most. */
  size: number;
  /** A task running longer is failed and its thread replaced. */
  timeoutMs: number;
  /** A thread idle this long is stopped (a new one starts with the next task). */
  idleMs: number;
  /** Told once when threads are given up on (tasks then run on the caller's thread). */
  onUnavailable?: (why: string) => void;
  /** V8's young generation per thread (MB); default V8's own, which grows to tens of MB. */
  youngGenerationMb?: number;
}

interface Queued {
  id: number;
  task: PoolTask;
}

interface Slot {
  worker: Worker;
  /** Loaded and listening: only then does the clock of a task start. */
  ready: boolean;
  queued?: Queued;
  timer?: NodeJS.Timeout;
  idleTimer?: NodeJS.Timeout;
}

/** Threads that die before they are ready this many times in a row: work on the caller's thread. */
const MAX_START_FAILURES = 3;

export class ThreadPool {
  private readonly entry: { script: URL | string; eval: boolean };
  private readonly queue: Queued[] = [];
  private readonly slots: Slot[] = [];
  private readonly readyWaiters: (() => void)[] = [];
  private nextId = 1;
  private closed = false;
  private startFailures = 0;
  private broken: string | undefined;

  constructor(private readonly o: ThreadPoolOptions) {
    this.entry = threadEntry(o.script);
  }

  /** Why threads could not be started, when they could not (tasks then run inline). */
  get threadsUnavailable(): string | undefined {
    return this.broken;
  }

  /** Threads running now (started, starting or busy). */
  get threads(): number {
    return this.slots.length;
  }

  run(task: PoolTask): void {
    if (this.closed) return task.fail('the pool is closed');
    if (this.broken) return task.inline();
    this.queue.push({ id: this.nextId++, task });
    this.grow();
    this.pump();
  }

  /** Resolves once a thread is up (starting one if none is), threads are given up on, or after maxWaitMs. */
  ready(maxWaitMs = 30_000): Promise<void> {
    if (this.closed || this.broken || this.slots.some((s) => s.ready)) return Promise.resolve();
    if (this.slots.length === 0) this.slots.push(this.spawn());
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, maxWaitMs);
      t.unref();
      this.readyWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  async close(reason: string): Promise<void> {
    this.closed = true;
    this.wake();
    const all = this.slots.splice(0);
    for (const s of all) this.clearTimers(s);
    for (const q of this.queue.splice(0)) q.task.fail(reason);
    for (const s of all) s.queued?.task.fail(reason);
    await Promise.all(all.map((s) => s.worker.terminate()));
  }

  /** A thread more while there is more waiting work than free threads. */
  private grow(): void {
    const free = this.slots.filter((s) => !s.queued).length;
    if (this.slots.length < this.o.size && this.queue.length > free) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const resourceLimits = this.o.youngGenerationMb ? { resourceLimits: { maxYoungGenerationSizeMb: this.o.youngGenerationMb } } : {};
    const slot: Slot = { worker: new Worker(this.entry.script, { eval: this.entry.eval, ...resourceLimits }), ready: false };
    slot.worker.on('message', (msg: { ready?: true; id?: number }) => this.heard(slot, msg));
    slot.worker.on('error', (e) => this.replace(slot, `the parser thread failed: ${e.message}`));
    slot.worker.on('exit', (code) => {
      if (!this.closed && this.slots.includes(slot)) this.replace(slot, `the parser thread exited (code ${code})`);
    });
    // Idle threads must not keep a CLI or a test process alive.
    slot.worker.unref();
    return slot;
  }

  private heard(slot: Slot, msg: { ready?: true; id?: number }): void {
    if (msg.ready) {
      slot.ready = true;
      this.startFailures = 0;
      this.wake();
      this.pump();
      return;
    }
    const queued = slot.queued;
    if (!queued || queued.id !== msg.id) return;
    clearTimeout(slot.timer);
    slot.queued = undefined;
    queued.task.answer(msg);
    this.pump();
  }

  /** Drop a thread that failed or overran, fail its task, and carry on with the rest. */
  private replace(slot: Slot, reason: string): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.clearTimers(slot);
    const queued = slot.queued;
    slot.queued = undefined;
    this.slots.splice(i, 1);
    void slot.worker.terminate();
    if (!slot.ready && ++this.startFailures >= MAX_START_FAILURES) {
      this.broken = reason;
      this.o.onUnavailable?.(reason);
    }
    queued?.task.fail(reason);
    if (this.broken) {
      this.wake();
      for (const q of this.queue.splice(0)) q.task.inline();
      return;
    }
    this.grow();
    this.pump();
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (!slot.ready || slot.queued || !this.queue.length) continue;
      const queued = this.queue.shift()!;
      clearTimeout(slot.idleTimer);
      slot.idleTimer = undefined;
      slot.queued = queued;
      slot.timer = setTimeout(() => this.replace(slot, `parse did not finish within ${this.o.timeoutMs} ms`), this.o.timeoutMs);
      slot.worker.postMessage({ ...queued.task.message, id: queued.id }, queued.task.transfer ?? []);
    }
    for (const slot of this.slots) {
      // Threads with work in hand (or waiting for them) keep the process alive; idle ones do not.
      if (slot.queued || this.queue.length) slot.worker.ref();
      else slot.worker.unref();
      if (slot.ready && !slot.queued && !this.queue.length) this.idle(slot);
    }
  }

  /** Stop a thread that stays idle for idleMs: its memory goes back; the next task starts one. */
  private idle(slot: Slot): void {
    if (slot.idleTimer) return; // idle since an earlier pump: its clock runs on
    slot.idleTimer = setTimeout(() => {
      const i = this.slots.indexOf(slot);
      if (i < 0 || slot.queued) return;
      this.slots.splice(i, 1);
      void slot.worker.terminate();
    }, this.o.idleMs);
    slot.idleTimer.unref();
  }

  private clearTimers(slot: Slot): void {
    clearTimeout(slot.timer);
    clearTimeout(slot.idleTimer);
  }

  private wake(): void {
    for (const w of this.readyWaiters.splice(0)) w();
  }
}

/** Whether a buffer owns all of its memory, and so can be handed to a thread rather than copied. */
export function ownBuffer(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
}
