// Where the mail goes: an issue or request made now, or found made already; or a comment on the
// issue it answers. Decided under a per-mail lock around "check, then create", so two jobs for
// one mail (it reached two mailboxes) never both create. The ledger alone answers the normal
// path; a Jira search is made only when a create may have happened unseen (create.ts).
import { RetryableError } from '../core/errors.js';
import { tell } from '../queues/story.js';
import { commentOn } from './comment.js';
import { create, mayHaveBeenMade, recover } from './create.js';
import type { Delivery, Target } from './delivery.js';
import { threadParent } from './thread.js';

export const DEFAULT_LOCK_MS = 30_000;

/** Decides (and makes) the mail's target, records it in the job's data, tells the job's story. */
export async function placeMail(d: Delivery): Promise<Target> {
  const release = await d.ledger.lock(d.mk, d.deps.lockMs ?? DEFAULT_LOCK_MS);
  let t: Target;
  try {
    t = await place(d);
  } finally {
    await release();
  }
  d.state.target = t;
  await d.save();
  await tell(d.ctx.job, placedLine(t));
  return t;
}

function placedLine(t: Target): string {
  if (t.adopted) return `found ${t.issueKey}, made from this mail before: nothing created`;
  if (t.kind === 'comment') return `commented on ${t.issueKey}${t.commentId ? ` (comment ${t.commentId})` : ''}`;
  return `created ${t.kind === 'request' ? 'request' : 'issue'} ${t.issueKey}`;
}

async function place(d: Delivery): Promise<Target> {
  const known = await d.ledger.get(d.mk);
  if (known) {
    // Another mail with this Message-ID was delivered since we looked: ours is a different
    // mail; the next attempt takes the id-and-hash identity.
    if (known.sha256 && known.sha256 !== d.record.rawRef.sha256) throw new RetryableError(`another mail with Message-ID ${d.mk} and other content was just delivered (${known.issueKey}); delivering this one separately`);
    return d.fromLedger(known);
  }

  // A reply to a resolved issue already ruled a new issue (resolved.ts): not asked again on a retry.
  const parent = d.state.followUp ? undefined : await threadParent(d);
  if (parent) {
    const commented = await commentOn(d, parent.issueKey);
    if (commented) return commented;
    // The issue the ledger named is gone (established, not guessed from a 404: gone.ts), or it is
    // resolved and the mailbox's rule makes replies to it new issues (resolved.ts): a new issue.
  }

  const since = await mayHaveBeenMade(d);
  if (since !== undefined) {
    const found = await recover(d, since);
    if (found) return d.remember(found);
  }
  return d.remember(await create(d));
}
