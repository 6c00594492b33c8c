// A person's mail that a weak signal says may be machine mail (src/mail/classify.ts) is still
// delivered, never dropped: the issue carries a label and the text a line that say why, so an
// agent sees at a glance why nobody was provisioned and can close it, or answer the customer.
import type { Classification } from '../mail/record.js';

/** The Jira label a suspected mail's issue gets: `mailroom-suspected-bounce`, `…-auto-reply`, `…-feedback-report`, `…-list`. */
export function suspectLabel(c: Classification): string | undefined {
  return c.kind === 'human' && c.suspected ? `mailroom-suspected-${c.suspected}` : undefined;
}

/** The line above the mail's text; undefined for a mail nothing weak was said of. */
export function suspectLine(c: Classification): string | undefined {
  if (c.kind !== 'human' || !c.suspected) return undefined;
  const what = { bounce: 'a delivery failure report', 'auto-reply': 'an automatic reply', 'feedback-report': 'an abuse report', list: 'list or bulk mail' }[c.suspected];
  return `Note: this may be ${what} (${c.reason}); it was delivered in case a person wrote it, and no account was created for anyone in it.`;
}
