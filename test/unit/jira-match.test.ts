import { describe, expect, it } from 'vitest';
import { pickByEmail, preferredAccount, toAccount } from '../../src/jira/match.js';
import type { JiraAccount } from '../../src/jira/types.js';

const acc = (over: Partial<JiraAccount>): JiraAccount => ({ accountId: 'id', accountType: 'atlassian', displayName: 'X', active: true, ...over });

describe('pickByEmail', () => {
  it('keeps only exact, case-insensitive email matches (search is a prefix search)', () => {
    const r = pickByEmail(
      [acc({ accountId: 'a', emailAddress: 'Bob@Example.com' }), acc({ accountId: 'b', emailAddress: 'bob@example.com.au' })],
      'bob@example.COM',
    );
    expect(r).toEqual({ accounts: [acc({ accountId: 'a', emailAddress: 'Bob@Example.com' })], emailHidden: false });
  });

  it('accepts a single result without an email for a full-email query, and says the email was hidden', () => {
    const r = pickByEmail([acc({ accountId: 'h' })], 'quiet@example.com');
    expect(r.emailHidden).toBe(true);
    expect(r.accounts.map((a) => a.accountId)).toEqual(['h']);
  });

  it('does not guess among several hidden results or for a fragment query', () => {
    expect(pickByEmail([acc({ accountId: 'h1' }), acc({ accountId: 'h2' })], 'q@example.com')).toEqual({ accounts: [], emailHidden: false });
    expect(pickByEmail([acc({ accountId: 'h' })], 'quiet')).toEqual({ accounts: [], emailHidden: false });
  });

  it('a single result with a different visible email is not a match', () => {
    expect(pickByEmail([acc({ emailAddress: 'other@example.com' })], 'me@example.com').accounts).toEqual([]);
  });

  it('nothing found is an empty answer', () => {
    expect(pickByEmail([], 'me@example.com')).toEqual({ accounts: [], emailHidden: false });
  });
});

describe('toAccount / preferredAccount', () => {
  it('maps platform and JSM beans, leaving out empty emails', () => {
    expect(toAccount({ accountId: 'x', accountType: 'customer', displayName: 'C', active: false, emailAddress: '' })).toEqual({
      accountId: 'x', accountType: 'customer', displayName: 'C', active: false,
    });
    expect(toAccount({ accountId: 'y', displayName: 'D' }, 'customer').accountType).toBe('customer');
  });

  it('prefers an active atlassian account', () => {
    const chosen = preferredAccount([
      acc({ accountId: 'inactive', active: false }),
      acc({ accountId: 'customer', accountType: 'customer' }),
      acc({ accountId: 'user' }),
    ]);
    expect(chosen?.accountId).toBe('user');
    expect(preferredAccount([])).toBeNull();
  });
});
