// One batch of UIDs of a sync (reader.ts), a fetch group at a time: which mails are still
// wanted, their raw sources read, stored and parsed, each mail's job added once it is. The
// reader moves its cursor past each group once all its jobs are in.
import type { ImapFlow } from 'imapflow';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { MailRecord } from '../mail/record.js';
import { bufferToRecord, enqueueMail, fetchSources, streamToRecord, type IngestOptions, type MessageMeta } from './ingest.js';

export interface FetchGroup {
  streamed: boolean;
  metas: MessageMeta[];
}

type FetchedMeta = { uid: number; size?: number; internalDate?: Date | string; flags?: Set<string> };

/**
 * The mails of a batch to read: not vanished, not finished before (they carry `doneFlag`).
 * Only a keyword says Mailroom finished a mail: a system flag the action may set (\Seen,
 * \Flagged, \Answered) is also set by people and server rules (a person opening the mail, a
 * Sieve or Exchange rule flagging it on arrival), and a customer's mail carrying it must still be
 * read; one Mailroom did finish is read again and found delivered. Flags compare in any case (RFC 9051).
 */
export function wantedOf(batch: number[], metas: FetchedMeta[], doneFlag: string | undefined, log: Logger): MessageMeta[] {
  const byUid = new Map(metas.map((m) => [m.uid, m]));
  const wanted: MessageMeta[] = [];
  const done = doneFlag && !doneFlag.startsWith('\\') ? doneFlag.toLowerCase() : undefined;
  for (const uid of batch) {
    const m = byUid.get(uid);
    if (!m) {
      log.info({ uid }, 'mail vanished before it could be read (deleted or moved by someone else)');
      continue;
    }
    if (done && [...(m.flags ?? [])].some((f) => f.toLowerCase() === done)) {
      // Finished before (the cursor was lost, or UIDVALIDITY changed): nothing to do.
      log.debug({ uid }, `already carries ${doneFlag}: skipped`);
      continue;
    }
    const internalDate = m.internalDate instanceof Date ? m.internalDate : m.internalDate ? new Date(m.internalDate) : undefined;
    wanted.push({ uid, size: m.size, internalDate });
  }
  return wanted;
}

export interface Enqueued {
  uid: number;
  jobId: string;
  record: MailRecord;
  internalDate?: Date;
}

/**
 * Read a group and add each mail's job as soon as that mail is stored and parsed, not once the
 * group's slowest parse is done: in a burst the first mails of a group waited on the last
 * (issue #25, docs/benchmarks.md). `onEnqueued` hears of each job added, in the order they were.
 * Every mail is waited for before a failure is thrown (nothing keeps running behind the
 * caller's back); the caller moves its cursor only past a group that went through whole, so a
 * failed group is read again and the adds already made are no-ops (job ids).
 */
export async function ingestGroup(client: ImapFlow, group: FetchGroup, opts: IngestOptions, log: Logger, onEnqueued: (it: Enqueued) => void): Promise<void> {
  const one = async (m: MessageMeta, read: () => Promise<MailRecord | undefined>) => {
    const record = await read().catch((e: unknown) => {
      throw inContext(e, `could not store mail UID ${m.uid}`);
    });
    if (!record) return log.info({ uid: m.uid }, 'mail vanished before it could be read (deleted or moved by someone else)');
    const item = { uid: m.uid, record, internalDate: m.internalDate };
    const jobId = await enqueueMail(item, opts).catch((e: unknown) => {
      throw inContext(e, `could not enqueue mail UID ${m.uid}`);
    });
    onEnqueued({ ...item, jobId });
  };
  if (group.streamed) return one(group.metas[0]!, () => streamToRecord(client, group.metas[0]!, opts));
  const sources = await fetchSources(client, group.metas.map((m) => m.uid));
  const settled = await Promise.allSettled(
    group.metas.map((m) => {
      const raw = sources.get(m.uid);
      return one(m, () => (raw ? bufferToRecord(raw, opts) : Promise.resolve(undefined)));
    }),
  );
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** An error with what we were doing in its message; its code (network kinds) is kept. */
export function inContext(err: unknown, doing: string): Error {
  const code = (err as { code?: unknown } | undefined)?.code;
  return Object.assign(new Error(`${doing}: ${describeError(err)}`, { cause: err }), code === undefined ? {} : { code });
}
