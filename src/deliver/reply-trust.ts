// Whether a reply may join the issue it names (issue #18, finding 1). Pure: the deliverer
// gathers the facts (the link, the issue's people, the sender), this decides.
//
// Both must hold: the LINK is one Mailroom can trust (a Message-ID it recorded for a mail of
// this mailbox, or an issue key of this mailbox's own project), and the SENDER may write into
// that issue (its reporter, a watcher, a request participant, or an address the policy lists;
// or anyone, when the mailbox's policy says `replies: anyone`). A sender whose From failed
// authentication is nobody's reply; an unverified one joins only through a Message-ID Mailroom
// recorded (hard to guess), never through a subject key. Anything else becomes a new issue naming the one it claimed.
import { canonicalAddress } from '../core/address.js';

export type SenderAuth = 'verified' | 'unverified' | 'failed';

export type RepliesPolicy = 'participants' | 'anyone';

export type ReplyLink =
  /** In-Reply-To/References named a mail the ledger knows: which mailbox delivered it. */
  /** mailedTo: the thread's mail was one Mailroom SENT, to this address (src/respond/): its answer is from a participant. */
  | { source: 'thread'; issueKey: string; recordedBy: string; mailedTo?: string }
  /** An issue key in the subject. */
  | { source: 'subject'; issueKey: string };

export interface ReplyFacts {
  policy: { replies: RepliesPolicy; replyAllowed: readonly string[] };
  /** The mailbox the reply arrived at, and its own project (undefined for a JSM route without one). */
  mailboxId: string;
  project: string | undefined;
  link: ReplyLink;
  /** The project the named issue is in, as Jira says. */
  issueProject: string | undefined;
  sender: {
    email?: string;
    /** The sender's Jira account, when the resolver found or made one. */
    accountId?: string;
    /**
     * The receiving host's verdict on the From (src/mail/auth-results.ts): `failed` is nobody's
     * reply; `unverified` joins only through a Message-ID Mailroom recorded, never through a
     * subject key (anyone can write one).
     */
    auth: SenderAuth;
  };
  /** The issue's people, as account ids. Read only when the decision needs them (see needsPeople). */
  people?: { reporter?: string; watchers: readonly string[]; participants: readonly string[] };
}

export type ReplyVerdict = { join: true; why: string } | { join: false; why: string };

/** Whether the link alone is one Mailroom can trust. */
export function linkTrusted(f: Pick<ReplyFacts, 'link' | 'mailboxId' | 'project' | 'issueProject'>): ReplyVerdict {
  const ownProject = f.project !== undefined && f.issueProject === f.project;
  if (f.link.source === 'thread') {
    if (f.link.recordedBy === f.mailboxId || ownProject) return { join: true, why: `answers a mail Mailroom delivered to ${f.link.issueKey}` };
    return { join: false, why: `it answers a mail of another mailbox (${f.link.recordedBy}), in project ${f.issueProject ?? 'unknown'}` };
  }
  if (ownProject) return { join: true, why: `names ${f.link.issueKey} of this mailbox's project ${f.project}` };
  return { join: false, why: `${f.link.issueKey} is not an issue of this mailbox's project${f.project ? ` ${f.project}` : ''}` };
}

/** True when the sender's standing cannot be settled without the issue's people. */
export function needsPeople(f: Pick<ReplyFacts, 'policy' | 'sender'> & { link?: ReplyLink }): boolean {
  const mailed = f.link?.source === 'thread' && !!f.link.mailedTo && f.sender.auth === 'verified' && listed(f.sender.email, [f.link.mailedTo]);
  return f.sender.auth !== 'failed' && f.policy.replies === 'participants' && !listed(f.sender.email, f.policy.replyAllowed) && !mailed && !!f.sender.accountId;
}

export function senderAllowed(f: Pick<ReplyFacts, 'policy' | 'sender' | 'people' | 'link'>): ReplyVerdict {
  const who = f.sender.email ?? 'an unknown sender';
  if (f.sender.auth === 'failed') return { join: false, why: `${who} failed the receiving server's sender authentication` };
  if (f.sender.auth === 'unverified' && f.link.source === 'subject') {
    return { join: false, why: `the receiving server did not verify ${who}, and an issue key in the subject is all it has (an unverified reply joins only by answering a mail Mailroom delivered)` };
  }
  if (f.policy.replies === 'anyone') return { join: true, why: 'the mailbox takes replies from anyone' };
  // Mailroom wrote to this address in this thread (an acknowledgement): an email-only
  // participant. The link is our Message-ID, random, but the recipient may have passed it on
  // (a Cc on their reply): the From must be verified too.
  if (f.link.source === 'thread' && f.link.mailedTo && f.sender.auth === 'verified' && listed(f.sender.email, [f.link.mailedTo])) {
    return { join: true, why: `${who} answers the mail Mailroom sent them about ${f.link.issueKey}` };
  }
  if (listed(f.sender.email, f.policy.replyAllowed)) return { join: true, why: `${who} is listed in policy.replyAllowed` };
  const id = f.sender.accountId;
  if (!id) return { join: false, why: `${who} has no Jira account, so is not a participant of ${f.link.issueKey}` };
  const p = f.people;
  if (p?.reporter === id) return { join: true, why: `${who} reported ${f.link.issueKey}` };
  if (p?.participants.includes(id)) return { join: true, why: `${who} is a request participant of ${f.link.issueKey}` };
  if (p?.watchers.includes(id)) return { join: true, why: `${who} watches ${f.link.issueKey}` };
  return { join: false, why: `${who} is not the reporter, a participant or a watcher of ${f.link.issueKey}` };
}

/** The whole rule: a trusted link and an allowed sender. */
export function decideReply(f: ReplyFacts): ReplyVerdict {
  const link = linkTrusted(f);
  if (!link.join) return link;
  const sender = senderAllowed(f);
  if (!sender.join) return sender;
  return { join: true, why: `${link.why}; ${sender.why}` };
}

/** `ann@x.com` lists one address; `@x.com` or `x.com` lists a domain and its subdomains (agents). */
export function listed(email: string | undefined, list: readonly string[]): boolean {
  if (!email) return false;
  const c = canonicalAddress(email);
  if (!c.ok) return false;
  return list.some((entry) => {
    const e = entry.trim().toLowerCase();
    if (e.includes('@') && !e.startsWith('@')) return canonicalAddress(e).address === c.address;
    const d = canonicalAddress(`x@${e.replace(/^@/, '')}`);
    return d.ok && (c.domain === d.domain || c.domain.endsWith('.' + d.domain));
  });
}
