// Step 3 of a resolve: everyone is settled, so the mail goes on to delivery, with its people as
// the resolver left them (reporter = the sender's accountId).
import { jiraDeliver, type ResolvedPerson } from '../queues/catalog.js';
import { deliverIdentity } from './mail-identity.js';
import type { PersonState, ResolveResult, ResolveRun, ResolveState } from './resolve-run.js';

export async function handToDelivery(run: ResolveRun, state: ResolveState): Promise<ResolveResult> {
  const { p, data, record, base, audit } = run;
  const people = state.people.map(resolvedPerson);
  const deliverData = { mailboxId: data.mailboxId, origin: data.origin, record, people };
  const identity = await deliverIdentity(p.jobs, deliverData);
  if (identity.kind === 'byte-identical-copy') {
    // Nothing new to deliver: the same bytes are on their way (or delivered) from another position.
    await audit.record({ ...base, step: 'duplicate', outcome: 'duplicate', detail: `byte-identical copy (sha256 ${record.rawRef.sha256}) of the mail in job ${identity.jobId}: not delivered again` });
    return { outcome: 'resolved', people, deliverJobId: identity.jobId };
  }
  if (identity.kind === 'same-id-other-content') {
    await audit.record({ ...base, step: 'same-message-id', outcome: 'ok', detail: `another mail (job ${identity.firstJobId}) has this Message-ID with other content: this one (sha256 ${record.rawRef.sha256}) is delivered on its own` });
  }
  const deliver = await run.ctx.add(jiraDeliver, deliverData, { jobId: identity.jobId });
  await audit.record({
    ...base,
    step: 'deliver-queued',
    outcome: 'ok',
    detail: people.map((x) => `${x.email}=${x.status}${x.accountId ? `(${x.accountId})` : ''}`).join(', ') || 'no participants',
  });
  return { outcome: 'resolved', people, deliverJobId: String(deliver.id) };
}

function resolvedPerson(x: PersonState): ResolvedPerson {
  return {
    email: x.email,
    role: x.role,
    status: x.status,
    ...(x.accountId ? { accountId: x.accountId } : {}),
    ...(x.reason ? { reason: x.reason } : {}),
  };
}
