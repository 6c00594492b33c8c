// Jira users: finding them by email, the token's own account, and creating Atlassian accounts.
import { PermanentError, RetryableError } from '../core/errors.js';
import { scrubSecrets } from '../core/log.js';
import { jiraErrorText } from './classify.js';
import type { JiraClient } from './client.js';
import type { JiraCore } from './core.js';
import { AlreadyExistsError } from './errors.js';
import { pickByEmail, preferredAccount, toAccount } from './match.js';
import type { Myself } from './types.js';

export type UserMethods = Pick<JiraClient, 'findUsersByEmail' | 'findUserByEmail' | 'myself' | 'myPermissions' | 'myGroups' | 'createUser'>;

export function userMethods({ call, expectOk, authFirst }: JiraCore): UserMethods {
  const users: UserMethods = {
    async findUsersByEmail(email) {
      const op = 'findUsers';
      if (!email.trim()) throw new PermanentError('cannot look up an empty email address');
      const body = expectOk(op, await call(op, { method: 'GET', path: '/rest/api/3/user/search', query: { query: email.trim(), maxResults: 50 } }));
      if (!Array.isArray(body)) throw new RetryableError(`Jira ${op} returned something other than a list`);
      return pickByEmail(body.map((u) => toAccount(u)), email);
    },

    async findUserByEmail(email) {
      return preferredAccount((await users.findUsersByEmail(email)).accounts);
    },

    async myself() {
      const op = 'getCurrentUser';
      const a = toAccount(expectOk(op, await call(op, { method: 'GET', path: '/rest/api/3/myself' })));
      if (!a.accountId) throw new RetryableError(`Jira ${op} returned no accountId`);
      const me: Myself = { accountId: a.accountId, displayName: a.displayName, active: a.active };
      if (a.emailAddress) me.emailAddress = a.emailAddress;
      return me;
    },

    async myPermissions(keys, context) {
      const op = 'getMyPermissions';
      const query = { permissions: keys.join(','), projectId: context?.projectId, projectKey: context?.projectId ? undefined : context?.projectKey };
      const body = expectOk(op, await call(op, { method: 'GET', path: '/rest/api/3/mypermissions', query }));
      const perms = ((body as { permissions?: Record<string, { havePermission?: boolean }> })?.permissions ?? {});
      return Object.fromEntries(keys.map((k) => [k, perms[k]?.havePermission === true]));
    },

    async myGroups() {
      const op = 'getCurrentUser';
      const body = expectOk(op, await call(op, { method: 'GET', path: '/rest/api/3/myself', query: { expand: 'groups' } })) as { groups?: { items?: { name?: unknown }[] } };
      const items = body?.groups?.items;
      if (!Array.isArray(items)) throw new RetryableError(`Jira ${op} answered without the groups it was asked to expand`);
      return items.map((g) => String(g?.name ?? '')).filter(Boolean);
    },

    async createUser(input) {
      const op = 'createUser';
      const json: Record<string, unknown> = { emailAddress: input.emailAddress, products: input.products };
      if (input.displayName) json.displayName = input.displayName;
      const a = await call(op, { method: 'POST', path: '/rest/api/3/user', json });
      authFirst(op, a);
      if (a.status === 400 && /already exists|already in use/i.test(jiraErrorText(a.body))) {
        throw new AlreadyExistsError(`Jira ${op}: a user with this email already exists (${scrubSecrets(jiraErrorText(a.body))})`);
      }
      return toAccount(expectOk(op, a), 'atlassian');
    },
  };
  return users;
}
