// The line above a mail's text that says what the receiving server made of its sender, so an
// agent reading the issue knows how much the name on it is worth. A forged From (the verdict
// failed) gets a warning. An unverified one gets a note, where the mailbox has a server to
// believe and it did not vouch for the sender: the mail still lands under the account its From
// names (a customer's mail is never dropped on a weak guess), and the agent should not act on it
// as that person's word alone (a changed bank account, a password reset for someone else). A
// mailbox with nothing to believe would put the note on every mail: `config check` says that
// once instead (unreadableVerdicts, src/mail/sender-trust.ts).
import type { MailRecord } from '../mail/record.js';
import { trustFor, verdictOf } from '../mail/sender-trust.js';

type Mailbox = Parameters<typeof trustFor>[0];

export function senderNote(record: Pick<MailRecord, 'authResults' | 'authHops' | 'authAs' | 'from' | 'fromCount'>, mailbox: Mailbox): string | undefined {
  const verdict = verdictOf(record, mailbox);
  if (verdict.result === 'fail') return `Warning: the sender could not be verified (${verdict.detail}); the From address may be forged.`;
  if (verdict.result === 'none' && trustFor(mailbox).kind !== 'none') {
    return `Note: the receiving server did not verify the sender (${verdict.detail}); this mail carries their name on the strength of its From address alone.`;
  }
  return undefined;
}
