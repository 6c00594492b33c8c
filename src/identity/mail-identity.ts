// Which jira-deliver job a resolved mail becomes. A mail is its content (sha256 of the raw
// bytes) at a mailbox position, not its Message-ID: mailers reuse ids and attackers copy them.
// The job id stays `deliver|<mailbox>|<Message-ID>` for the first mail with that id (tools
// find it by Message-ID); another mail with the same id and other content gets the hash too,
// so it is delivered instead of vanishing into the first one's job. A byte-identical copy
// from another position is a duplicate, and says so in the audit trail.
import type { z } from 'zod';
import { jiraDeliver, type MailOrigin } from '../queues/catalog.js';
import type { JobReader } from './jobs.js';
import { deliverJobId, mailRef } from '../mail/ref.js';

type DeliverData = z.infer<typeof jiraDeliver.payload>;

export type DeliverIdentity =
  | { kind: 'first'; jobId: string }
  | { kind: 'same-id-other-content'; jobId: string; firstJobId: string }
  | { kind: 'byte-identical-copy'; jobId: string };

export function samePosition(a: MailOrigin | undefined, b: MailOrigin): boolean {
  if (!a || a.kind !== b.kind) return false;
  if (a.kind === 'imap' && b.kind === 'imap') return a.uidvalidity === b.uidvalidity && a.uid === b.uid;
  return true;
}

export async function deliverIdentity(jobs: Pick<JobReader, 'job'>, data: DeliverData): Promise<DeliverIdentity> {
  const base = jiraDeliver.jobId(data);
  const existing = await jobs.job(jiraDeliver, base);
  const prior = existing?.data as Partial<DeliverData> | undefined;
  if (!prior?.record) return { kind: 'first', jobId: base };
  if (prior.record.rawRef.sha256 !== data.record.rawRef.sha256) {
    return { kind: 'same-id-other-content', jobId: deliverJobId(mailRef(data), true), firstJobId: base };
  }
  // Our own job (a re-run of this mail's resolve), or the same bytes at another position.
  return samePosition(prior.origin, data.origin) ? { kind: 'first', jobId: base } : { kind: 'byte-identical-copy', jobId: base };
}
