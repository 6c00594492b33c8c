// Jira groups: adding members, listing active members, and whether a group exists.
import { NotFoundError, PermanentError } from '../core/errors.js';
import { scrubSecrets } from '../core/log.js';
import { jiraErrorText } from './classify.js';
import type { JiraClient } from './client.js';
import { MAX_PAGES, type Answer, type JiraCore } from './core.js';
import { UserNotFoundYetError } from './errors.js';
import { toAccount } from './match.js';
import type { GroupRef, JiraAccount } from './types.js';

export type GroupMethods = Pick<JiraClient, 'addUserToGroup' | 'groupMembers' | 'groupExists'>;

/** Jira's words for a missing user on /group/user ("User not found", "The user with account ID … does not exist"). */
const USER_MISSING = /\buser\b|account id/i;
/** …and for a missing group ("Specified group does not exist."). */
const GROUP_MISSING = /\bgroup\b/i;

/** Group members per page: Jira caps /group/member at 50. */
const GROUP_PAGE = 50;

/**
 * Jira's 404 for a group says only "Specified group does not exist.": name the group, so a
 * person reading a failed job knows which one (and where it is configured).
 */
function noSuchGroup(operation: string, g: GroupRef, a: Answer): void {
  if (a.status !== 404) return;
  const which = g.groupName !== undefined ? `"${g.groupName}"` : `with groupId ${g.groupId}`;
  const text = scrubSecrets(jiraErrorText(a.body)) || 'Specified group does not exist.';
  throw new NotFoundError(
    `Jira group ${which} does not exist (${operation}: ${text}); fix it where the configuration names it (mailboxes[].policy.groups or notifications.rules[].groups)`,
  );
}

function groupQuery(g: GroupRef): Record<string, string | undefined> {
  if (g.groupId) return { groupId: g.groupId };
  if (g.groupName) return { groupname: g.groupName };
  throw new PermanentError('a group needs a groupId or a groupName');
}

export function groupMethods({ call, expectOk, authFirst }: JiraCore): GroupMethods {
  return {
    async addUserToGroup(input) {
      const op = 'addUserToGroup';
      const a = await call(op, { method: 'POST', path: '/rest/api/3/group/user', query: groupQuery(input), json: { accountId: input.accountId } });
      authFirst(op, a);
      if (a.status === 400 && /already a member/i.test(jiraErrorText(a.body))) return 'already-member';
      // 404 is "group or user not found": Jira's message tells which.
      if (a.status === 404 && USER_MISSING.test(jiraErrorText(a.body)) && !GROUP_MISSING.test(jiraErrorText(a.body))) {
        throw new UserNotFoundYetError(`Jira ${op}: the user ${input.accountId} is not found (404: ${scrubSecrets(jiraErrorText(a.body))}); a just-created account may not have reached Jira yet`, input.accountId);
      }
      noSuchGroup(op, input, a);
      expectOk(op, a);
      return 'added';
    },

    async groupMembers(group) {
      const op = 'getUsersFromGroup';
      const out: JiraAccount[] = [];
      let startAt = 0;
      for (let page = 0; page < MAX_PAGES; page++) {
        const a = await call(op, {
          method: 'GET',
          path: '/rest/api/3/group/member',
          query: { ...groupQuery(group), includeInactiveUsers: false, startAt, maxResults: GROUP_PAGE },
        });
        authFirst(op, a);
        noSuchGroup(op, group, a);
        const body = expectOk(op, a) as { values?: unknown[]; isLast?: boolean };
        const values = Array.isArray(body?.values) ? body.values : [];
        out.push(...values.map((u) => toAccount(u)).filter((u) => u.active));
        if (body?.isLast !== false || values.length === 0) return out;
        startAt += values.length;
      }
      // Retrying will not make the group smaller: a group this big is a configuration mistake.
      throw new PermanentError(`Jira ${op}: the group has more than ${MAX_PAGES * GROUP_PAGE} active members; refusing to expand it`);
    },

    async groupExists(group) {
      const op = 'getUsersFromGroup';
      const a = await call(op, { method: 'GET', path: '/rest/api/3/group/member', query: { ...groupQuery(group), maxResults: 1 } });
      authFirst(op, a);
      if (a.status === 404) return false;
      expectOk(op, a);
      return true;
    },
  };
}
