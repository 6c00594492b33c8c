// One batch of UIDs of a sync (reader.ts), a fetch group at a time: which mails are still
// wanted, their raw sources read, stored and parsed, their jobs added together. The reader
// moves its cursor past each group once its jobs are in.
import type { ImapFlow } from 'imapflow';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { MailRecord } from '../mail/record.js';
import { bufferToRecord, enqueueMany, fetchSources, streamToRecord, type IngestOptions, type MessageMeta } from './ingest.js';

export interface FetchGroup {
  streamed: boolean;
  metas: MessageMeta[];
}

type FetchedMeta = { uid: number; size?: number; internalDate?: Date | string; flags?: Set<string> };

/** The mails of a batch to read: not vanished, not finished before (they carry `doneFlag`). */
export function wantedOf(batch: number[], metas: FetchedMeta[], doneFlag: string | undefined, log: Logger): MessageMeta[] {
  const byUid = new Map(metas.map((m) => [m.uid, m]));
  const wanted: MessageMeta[] = [];
  for (const uid of batch) {
    const m = byUid.get(uid);
    if (!m) {
      log.info({ uid }, 'mail vanished before it could be read (deleted or moved by someone else)');
      continue;
    }
    if (doneFlag && m.flags?.has(doneFlag)) {
      // Finished before (the cursor was lost, or UIDVALIDITY changed): nothing to do.
      log.debug({ uid }, `already carries ${doneFlag}: skipped`);
      continue;
    }
    const internalDate = m.internalDate instanceof Date ? m.internalDate : m.internalDate ? new Date(m.internalDate) : undefined;
    wanted.push({ uid, size: m.size, internalDate });
  }
  return wanted;
}

/**
 * Small mails of a group are fetched together and stored and parsed side by side; a big one
 * is streamed. A record is undefined for a mail gone from the server.
 */
export async function readGroup(client: ImapFlow, group: FetchGroup, opts: IngestOptions): Promise<(MailRecord | undefined)[]> {
  if (group.streamed) return [await streamToRecord(client, group.metas[0]!, opts)];
  const sources = await fetchSources(client, group.metas.map((m) => m.uid));
  const pending = group.metas.map((m) => {
    const raw = sources.get(m.uid);
    return raw ? bufferToRecord(raw, opts) : Promise.resolve(undefined);
  });
  // Wait for all before failing on one: nothing keeps running behind our back.
  const settled = await Promise.allSettled(pending);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    const uid = group.metas[settled.indexOf(failed)]!.uid;
    throw inContext(failed.reason, `could not store mail UID ${uid}`);
  }
  return settled.map((r) => (r as PromiseFulfilledResult<MailRecord | undefined>).value);
}

export interface Enqueued {
  uid: number;
  jobId: string;
  record: MailRecord;
  internalDate?: Date;
}

/** Add the group's jobs together (mails gone from the server are logged and left out). */
export async function enqueueGroup(group: FetchGroup, records: (MailRecord | undefined)[], opts: IngestOptions, log: Logger): Promise<Enqueued[]> {
  const items: { uid: number; record: MailRecord; internalDate?: Date }[] = [];
  group.metas.forEach((m, k) => {
    const record = records[k];
    if (record) items.push({ uid: m.uid, record, internalDate: m.internalDate });
    else log.info({ uid: m.uid }, 'mail vanished before it could be read (deleted or moved by someone else)');
  });
  const jobIds = await enqueueMany(items, opts).catch((e: unknown) => {
    throw inContext(e, `could not enqueue mail UID ${items[0]?.uid}${items.length > 1 ? `-${items[items.length - 1]!.uid}` : ''}`);
  });
  return items.map((it, k) => ({ ...it, jobId: jobIds[k]! }));
}

/** An error with what we were doing in its message; its code (network kinds) is kept. */
export function inContext(err: unknown, doing: string): Error {
  const code = (err as { code?: unknown } | undefined)?.code;
  return Object.assign(new Error(`${doing}: ${describeError(err)}`, { cause: err }), code === undefined ? {} : { code });
}
