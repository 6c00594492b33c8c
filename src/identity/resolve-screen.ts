// Before anyone is looked up: mail that is not a person's is recorded and never resolved, a
// forged sender is held or flagged, and a mail's first run sets up its people.
import { PermanentError } from '../core/errors.js';
import type { SenderVerdict } from '../mail/auth-results.js';
import { mailKey } from '../mail/id.js';
import { verdictOf } from '../mail/sender-trust.js';
import { createLedger } from '../ledger/ledger.js';
import { mailboxActions } from '../queues/catalog.js';
import { askBounceNote } from './bounce.js';
import { countMail } from './flood.js';
import { selectParticipants } from './policy.js';
import type { PersonState, ResolveResult, ResolveRun, ResolveState } from './resolve-run.js';

/** An unparseable mail fails for good; a classified one is recorded and finished. Undefined for a person's mail. */
export async function settleClassified(run: ResolveRun): Promise<ResolveResult | undefined> {
  const { record, data, base, sender, audit } = run;
  const c = record.classification;
  if (c.kind === 'unparseable') {
    await audit.record({ ...base, email: sender, step: 'classified', outcome: 'failed', detail: `unparseable: ${c.reason}` });
    throw new PermanentError(`the mail could not be parsed (${c.reason}); its raw source is kept in the store (${record.rawRef.sha256})`);
  }
  if (c.kind === 'human') return undefined;
  // Classified mail is recorded, never resolved: a bounce or an auto-reply must not make users.
  await audit.record({ ...base, email: sender, step: 'classified', outcome: 'skipped', detail: `${c.kind}: ${c.reason}` });
  // A bounce of Mailroom's own mail is told to its issue (an internal note); the bounce itself
  // still gets nothing. Before the mailbox action: the mail is moved only once the note is queued.
  if (c.kind === 'bounce') await askBounceNote(run);
  if (data.origin.kind === 'imap') {
    await run.ctx.add(mailboxActions, {
      mailboxId: data.mailboxId,
      uidvalidity: data.origin.uidvalidity,
      uid: data.origin.uid,
      outcome: 'classified',
      ...(data.origin.epoch ? { epoch: data.origin.epoch } : {}),
    });
  }
  // Auto-replies, bounces and lists are a large share of a support inbox: routine, at debug (the audit trail keeps each).
  run.ctx.log.debug({ kind: c.kind }, 'classified mail: no people resolved');
  return { outcome: 'classified', kind: c.kind, reason: c.reason };
}

/**
 * The receiving server's verdict on the From (trusted authserv-ids only): a forged sender is
 * never created and never the reporter; its mail is held for a person, or delivered flagged.
 */
export async function checkSender(run: ResolveRun): Promise<SenderVerdict> {
  const { record, mailbox, policy, base, sender, audit } = run;
  const verdict = verdictOf(record, mailbox);
  warnOnceIfNoTrustedHeader(run, verdict);
  if (verdict.result === 'fail' && policy.onAuthFail === 'hold') {
    await audit.record({ ...base, email: sender, step: 'sender-auth', outcome: 'held', detail: `${verdict.detail}: held (policy.onAuthFail is "hold")` });
    throw new PermanentError(`held: the receiving server says the sender ${sender ?? ''} is forged (${verdict.detail}); check the mail, then reprocess it or delete it`);
  }
  return verdict;
}

const warnedMailboxes = new Set<string>();

/**
 * Once per mailbox and process, loudly: a mail that carries no header of the host the mailbox
 * believes. A forger cannot remove the receiving host's header, so this means the mail did not
 * come through that host, or the configuration names the wrong one (then every sender stays
 * unverified). Mailboxes that can read no verdict at all are named at start (src/identity/role.ts).
 */
function warnOnceIfNoTrustedHeader(run: ResolveRun, verdict: SenderVerdict): void {
  if (verdict.result !== 'none' || !/^no Authentication-Results from /.test(verdict.detail)) return;
  const id = `${run.p.prefix}:${run.mailbox.id}`;
  if (warnedMailboxes.has(id)) return;
  warnedMailboxes.add(id);
  run.ctx.log.warn({ mailbox: run.mailbox.id, check: 'sender-verdicts' }, `mailbox ${run.mailbox.id}: a mail carried ${verdict.detail}, so its sender is unverified; if no mail ever does, the receiving host is not the one configured (policy.authservIds, docs/sender-verdicts.md). Said once per process.`);
}

/** A mail's first run: its people, none decided yet, and the sender's count against the flood limit. */
export async function firstState(run: ResolveRun, verdict: SenderVerdict): Promise<ResolveState> {
  const { p, record, mailbox, policy, base, sender, audit } = run;
  const people = selectParticipants(record, mailbox).map((x): PersonState => ({ ...x, status: 'new' }));
  const state: ResolveState = { v: 1, people, passes: 0 };
  if (verdict.result === 'fail') {
    for (const x of people.filter((y) => y.role === 'sender')) Object.assign(x, { status: 'ignored', reason: 'sender-auth-failed' });
  }
  const counted = !!sender && people.some((x) => x.role === 'sender' && x.status === 'new') && policy.autoCreate !== 'none';
  // Three independent writes go out together: a new sender's mail waits on each round trip of
  // this path (issue #25). Replies that overtake this mail (same thread, arriving together)
  // wait for its delivery (markPending).
  const [, count] = await Promise.all([
    createLedger(p.redis, p.prefix).markPending(mailKey(record)),
    counted ? countMail(p.redis, p.prefix, sender, String(run.ctx.job.id)) : undefined,
    verdict.result === 'fail'
      ? audit.record({ ...base, email: sender, step: 'sender-auth', outcome: 'failed', detail: `${verdict.detail}: nobody in it is created, the sender is not made reporter; the mail is delivered flagged` })
      : verdict.result === 'none'
        ? audit.record({ ...base, email: sender, step: 'sender-auth', outcome: 'unverified', detail: `${verdict.detail}: nobody but the sender may be created, and it joins an issue only through a Message-ID Mailroom recorded` })
        : undefined,
  ]);
  if (count !== undefined) {
    const held = count > policy.floodLimitPerHour;
    state.flood = { count, limit: policy.floodLimitPerHour, held };
    if (held) {
      await audit.record({ ...base, email: sender, step: 'flood-limit', outcome: 'held', detail: `mail ${count} this hour, limit ${policy.floodLimitPerHour}: not provisioned` });
    }
  }
  // Saved with the decisions that follow: a crash before that re-counts this mail, which the
  // flood set ignores (one entry per mail job).
  return state;
}
