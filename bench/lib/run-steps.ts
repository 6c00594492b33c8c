// Steps the benchmark's role runs share (bench/run.ts): append mail over IMAP (paced or in
// bulk), release a side folder at once, and wait on a condition while watching the role processes.
import { appender, type BenchMail } from './mails.js';
import { closeQueues, counts, openQueues, waitUntil } from './observe.js';
import type { Rig, Run } from './rig.js';
import { perSec } from './stats.js';

export type Appended = Map<string, { uid: number | undefined; at: number; sender: string }>;

export async function appendAll(rig: Rig, run: Run, mails: BenchMail[], o: { ratePerSec?: number; folder?: string } = {}): Promise<{ appended: Appended; perSec: number }> {
  // Paced mails go one by one on one connection; a bulk load uses a few connections at once.
  const lanes = o.ratePerSec ? 1 : Math.min(4, mails.length);
  const appended: Appended = new Map();
  const t0 = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: lanes }, async () => {
    const a = appender(rig.dovecot, run.imapUser);
    try {
      for (let i = next++; i < mails.length; i = next++) {
        const m = mails[i]!;
        if (o.ratePerSec) {
          const due = t0 + (i * 1000) / o.ratePerSec;
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        }
        const r = await a.append(m.raw, o.folder);
        appended.set(m.messageId, { ...r, sender: m.sender });
      }
    } finally {
      await a.close();
    }
  }));
  return { appended, perSec: perSec(mails.length, Date.now() - t0) };
}

/** Let mails that waited in a side folder arrive in the inbox all at once (one IMAP MOVE). */
export async function release(rig: Rig, run: Run, folder: string): Promise<number> {
  const a = appender(rig.dovecot, run.imapUser);
  try {
    return await a.moveAll(folder, 'INBOX');
  } finally {
    await a.close();
  }
}

/** Mails per second from a moment to the last of the given end times. */
export function rateSince(count: number, since: number, ends: (number | undefined)[]): number {
  const e = ends.filter((t): t is number => t !== undefined);
  return e.length ? perSec(count, Math.max(...e) - since) : 0;
}

export async function describeRun(rig: Rig, run: Run): Promise<string> {
  const qs = openQueues(rig.conn, run.prefix);
  const c = await counts(qs);
  await closeQueues(qs);
  const errs = [...run.running.values()].map((p) => `${p.role}${p.child.exitCode !== null ? ` exited ${p.child.exitCode}` : ''}: ${p.stderr().slice(-600)}`).join('\n');
  return `${JSON.stringify(c)}\n${errs}`;
}

/** waitUntil, failing at once (with its stderr) when a role process has died meanwhile. */
export function until(run: Run, what: string, fn: () => Promise<boolean>, timeoutMs: number, onTimeout?: () => Promise<string>): Promise<void> {
  return waitUntil(what, async () => {
    for (const p of run.running.values()) {
      if (p.child.exitCode !== null) throw new Error(`the ${p.role} process exited (${p.child.exitCode}) while waiting for ${what}: ${p.stderr().slice(-1500)}`);
    }
    return fn();
  }, timeoutMs, onTimeout);
}

