// Whether a new issue's sender gets an acknowledgement, and what it may show. Pure: the
// deliverer gathers the facts, this decides, with a reason a person can read either way.
//
// Never to machine mail (the classifier's verdict: bounces, auto-replies, lists, our own mail),
// only to a sender the receiving server verified (no backscatter: a From nobody vouched for may be
// anyone's, and the acknowledgement would carry the forger's subject from the support address),
// never to mail a weak signal calls machine-like (an auto-reply answering it would loop), never to a mailbox's own address or a blocked local part (noreply,
// mailer-daemon), never for a JSM request raised for a customer account (JSM mails them itself).
import { blockedLocalPart } from '../config/blocked-local-parts.js';
import { canonicalAddress } from '../core/address.js';
import type { RespondConfig } from '../config/respond-schema.js';
import type { SenderVerdict } from '../mail/auth-results.js';
import type { ClassificationKind } from '../mail/record.js';

export interface AckFacts {
  respond: RespondConfig | undefined;
  classification: ClassificationKind;
  /** A weak signal says the mail may be machine mail (delivered, labelled, never answered). */
  suspected?: string;
  sender: string | undefined;
  /** The receiving server's verdict on the From (src/mail/auth-results.ts). */
  verdict: SenderVerdict;
  /** The mailbox's own addresses and the blocked local parts of its policy. */
  ownAddresses: readonly string[];
  blockedLocalParts: readonly string[];
  /** What was made: an issue, or a JSM request. */
  kind: 'issue' | 'request';
  /** The sender's Jira account, when the resolver found or made one. */
  senderAccountId: string | undefined;
}

export type AckDecision = { send: true; to: string; link: boolean; why: string } | { send: false; why: string };

export function decideAcknowledgement(f: AckFacts): AckDecision {
  if (!f.respond) return { send: false, why: 'the mailbox has no respond section' };
  if (!f.respond.acknowledge) return { send: false, why: 'respond.acknowledge is off' };
  if (f.classification !== 'human') return { send: false, why: `machine mail (${f.classification}) is never answered` };
  const c = f.sender ? canonicalAddress(f.sender) : undefined;
  if (!c?.ok) return { send: false, why: 'the mail has no usable From address' };
  if (f.suspected) return { send: false, why: `a weak signal says this may be machine mail (${f.suspected}): never answered, so no loop` };
  if (f.verdict.result === 'fail') return { send: false, why: `the sender failed authentication (${f.verdict.detail}): no backscatter to a forged address` };
  if (f.verdict.result !== 'pass') return { send: false, why: `the receiving server did not verify the sender (${f.verdict.detail}): no mail to an address nobody vouched for` };
  if (f.ownAddresses.some((a) => canonicalAddress(a).address === c.address)) return { send: false, why: `${c.address} is the mailbox's own address` };
  const local = c.local;
  const blocked = blockedLocalPart(f.blockedLocalParts, local);
  if (blocked) return { send: false, why: `${c.address} matches blocked local part ${blocked}` };
  if (f.kind === 'request' && f.senderAccountId) return { send: false, why: 'a JSM request raised for the customer: JSM notifies them itself' };
  return { send: true, to: c.address, link: !!f.senderAccountId, why: 'a new issue from a person' };
}

