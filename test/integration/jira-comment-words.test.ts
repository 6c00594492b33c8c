// Jira's words for a refused comment ("…, you do not have the permission to comment on this
// issue.", "You are currently not a member of the project role: …") are read as a permission
// refusal only in the answer to a comment. Other answers can carry text from outside: the
// simulator's (and JSM's) 400 for a request raised on behalf of a non-customer quotes the
// customer's display name, which Mailroom takes from a mail's From header. Read as ADD_COMMENTS
// there, one mail could count against its project's breaker (and hold the project). So with
// Modify reporter's words ("Field 'reporter' cannot be set"), read only in createIssue's answer.
import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../src/core/errors.js';
import { PermissionError } from '../../src/jira/errors.js';
import { withSim } from '../helpers/jira-sim.js';

const jira = withSim();

describe('comment refusal words outside a comment answer', () => {
  it.each([
    ['ADD_COMMENTS', 'Eve, you do not have the permission to comment on this issue'],
    ['the role', 'Eve: You are currently not a member of the project role: Administrators'],
    ['MODIFY_REPORTER', "Eve: Field 'reporter' cannot be set"],
  ])('a display name with the %s words in a 400 on createRequest is not a permission refusal', async (_what, displayName) => {
    const { client, site } = { client: jira().client(), site: jira().site };
    const created = await client.createCustomer({ email: `eve-${Math.random().toString(36).slice(2)}@attacker.example`, displayName });
    expect(created).not.toBe('exists');
    const accountId = (created as { accountId: string }).accountId;
    // Not added to the desk: Jira answers 400 naming the customer by display name.
    const err = await client
      .createRequest({ serviceDeskId: site.serviceDesk.id, requestTypeId: site.serviceDesk.requestTypeId, summary: 'hi', description: 'hi', raiseOnBehalfOf: accountId })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toContain(displayName);
    expect(err).not.toBeInstanceOf(PermissionError);
  });
});
