// Which of Jira's search results is "the account for this email". Jira's user search is a
// prefix search over names and emails, so an exact, case-insensitive email match is required;
// the one exception is an account whose email is hidden by its privacy settings.
import { isFullEmail, sameEmail } from './classify.js';
import type { AccountType, JiraAccount, UserSearchResult } from './types.js';

const ACCOUNT_TYPES: AccountType[] = ['atlassian', 'customer', 'app', 'unknown'];

/** A Jira user bean (platform User / UserDetails or JSM UserDTO) as a JiraAccount. */
export function toAccount(raw: unknown, fallbackType: AccountType = 'unknown'): JiraAccount {
  const r = (raw ?? {}) as Record<string, unknown>;
  const type = ACCOUNT_TYPES.includes(r.accountType as AccountType) ? (r.accountType as AccountType) : fallbackType;
  const account: JiraAccount = {
    accountId: String(r.accountId ?? ''),
    accountType: type,
    displayName: typeof r.displayName === 'string' ? r.displayName : '',
    active: r.active !== false,
  };
  if (typeof r.emailAddress === 'string' && r.emailAddress !== '') account.emailAddress = r.emailAddress;
  return account;
}

export function pickByEmail(results: JiraAccount[], email: string): UserSearchResult {
  const exact = results.filter((a) => sameEmail(a.emailAddress, email));
  if (exact.length > 0) return { accounts: exact, emailHidden: false };
  // A lone result without an email for a full-address query: the address matched a hidden email.
  const humans = results.filter((a) => a.accountType !== 'app');
  if (isFullEmail(email) && humans.length === 1 && humans[0]!.emailAddress === undefined) {
    return { accounts: [humans[0]!], emailHidden: true };
  }
  return { accounts: [], emailHidden: false };
}

/** One account for an email: an active one first, atlassian before customer. */
export function preferredAccount(accounts: JiraAccount[]): JiraAccount | null {
  const rank = (a: JiraAccount) => (a.active ? 0 : 2) + (a.accountType === 'atlassian' ? 0 : 1);
  return [...accounts].sort((a, b) => rank(a) - rank(b))[0] ?? null;
}
