// Whose Authentication-Results a mailbox believes, from its configuration alone: a mailbox read
// through Microsoft 365 trusts Exchange Online's header (written without an authserv-id), one
// read through Google trusts mx.google.com, any other believes the authserv-ids its policy
// names. Explicit `policy.authservIds` win: a gateway in front of the provider (with its own
// header) or a provider reached under another host name. Pure. See docs/sender-verdicts.md.
import { EXCHANGE_ONLINE_HOSTS, type MailboxConfig } from '../config/schema.js';
import { senderVerdict, type AuthTrust, type SenderVerdict } from './auth-results.js';
import type { MailRecord } from './record.js';

export { EXCHANGE_ONLINE_HOSTS };
export const GMAIL_HOSTS = ['imap.gmail.com'];
export const GMAIL_AUTHSERV_ID = 'mx.google.com';

type TrustSource = Pick<MailboxConfig, 'imap' | 'id'> & { policy: Pick<MailboxConfig['policy'], 'authservIds'> };

export function providerOf(mailbox: Pick<MailboxConfig, 'imap'>): 'microsoft' | 'google' | undefined {
  const imap = mailbox.imap;
  if (!imap) return undefined;
  const host = imap.host.trim().toLowerCase().replace(/\.$/, '');
  if (imap.auth?.provider === 'microsoft' || EXCHANGE_ONLINE_HOSTS.includes(host)) return 'microsoft';
  if (imap.auth?.provider === 'google' || GMAIL_HOSTS.includes(host)) return 'google';
  return undefined;
}

export function trustFor(mailbox: TrustSource): AuthTrust {
  const ids = mailbox.policy.authservIds;
  if (ids.length) return { kind: 'authserv-ids', ids };
  const provider = providerOf(mailbox);
  if (provider === 'microsoft') return { kind: 'exchange-online' };
  if (provider === 'google') return { kind: 'authserv-ids', ids: [GMAIL_AUTHSERV_ID], topmostOnly: true };
  return {
    kind: 'none',
    why: `mailbox ${mailbox.id}: no receiving host to believe (not Microsoft 365 or Google, and policy.authservIds is empty): every sender is unverified`,
  };
}

/** The verdict on a mail's From, as its mailbox's trusted host gave it. */
export function verdictOf(record: Pick<MailRecord, 'authResults' | 'authHops' | 'authAs' | 'from' | 'fromCount'>, mailbox: TrustSource): SenderVerdict {
  return senderVerdict(
    { authResults: record.authResults, authHops: record.authHops, authAs: record.authAs, from: record.from?.address, fromCount: record.fromCount },
    trustFor(mailbox),
  );
}

/** What `config check` and the resolver's start log say, once per mailbox that can read no verdict. */
export function unreadableVerdicts(mailboxes: readonly TrustSource[]): string[] {
  return mailboxes.flatMap((m) => {
    const placeholders = m.imap ? m.policy.authservIds.filter(isPlaceholderHost) : [];
    if (placeholders.length) {
      // mailroom.example.yml's mx.example.com, kept in a copy that reads a real mailbox: it wins
      // over the provider's own header, and no real host writes it, so no sender is ever verified.
      const fix = providerOf(m)
        ? `remove the authservIds line: a ${providerOf(m) === 'microsoft' ? 'Microsoft 365' : 'Gmail'} mailbox needs none`
        : 'set it to your receiving host\'s authserv-id (the first word of the Authentication-Results header it writes)';
      return [
        `mailbox ${m.id}: policy.authservIds names ${placeholders.join(', ')}, a placeholder from the example file: no real mail server writes it, so every sender is unverified; ${fix}; see docs/sender-verdicts.md`,
      ];
    }
    const t = trustFor(m);
    if (t.kind !== 'none') return [];
    return [
      `mailbox ${m.id}: sender verdicts cannot be read (no policy.authservIds, and the mailbox is not read through Microsoft 365 or Google): every sender is unverified, so replies join issues only through a Message-ID Mailroom recorded, never through an issue key in the subject, and nobody but the sender is created. Set policy.authservIds to your receiving host's authserv-id (the first word of the Authentication-Results header it writes); see docs/sender-verdicts.md`,
    ];
  });
}

/** A name reserved for examples (RFC 2606, RFC 6761): no mail server on the Internet has it. */
function isPlaceholderHost(id: string): boolean {
  return /(^|\.)(example\.(com|net|org)|example|test|invalid|localhost)$/.test(id);
}

/** A one-line name of what the mailbox believes, for logs. */
export function trustLabel(t: AuthTrust): string {
  if (t.kind === 'exchange-online') return 'Exchange Online (topmost Authentication-Results, no authserv-id)';
  if (t.kind === 'authserv-ids') return `authserv-id ${t.ids.join(', ')}${t.topmostOnly ? ' (topmost header)' : ''}`;
  return 'nothing (every sender unverified)';
}
