// Users and groups on the platform API, with Jira Cloud's corners: anonymous empty answers
// for refused credentials, hidden emails, 400 for duplicates, products required, page caps.
import { GLOBAL_PERMISSIONS, KNOWN_PRODUCTS, PROJECT_PERMISSIONS, type SimAccount } from './state.js';
import { has, intParam, platformError, userDetailsJson, userJson, type Route, type SimRequest } from './http.js';

/** Jira caps a page of /group/member at 50, whatever maxResults asks for. */
export const GROUP_MEMBER_PAGE_CAP = 50;
/** /user/search answers at most this many per page. */
export const USER_SEARCH_PAGE_CAP = 1000;

function matches(a: SimAccount, q: string): boolean {
  if (!q) return false;
  if (a.email?.startsWith(q)) return true;
  const name = a.displayName.toLowerCase();
  return name.startsWith(q) || name.split(/\s+/).some((w) => w.startsWith(q));
}

function forbidden(what: string) {
  return platformError(403, [`You do not have the permission to ${what}.`]);
}

export function createExistingChecks(req: SimRequest, operation: string, email: string): void {
  const { ctx } = req;
  if (ctx.state.accountsByEmail(email).length > 0) ctx.counters.violation('createExisting', operation, `create for existing email ${email}`);
  if (ctx.anonymousSearches.has(email)) {
    ctx.counters.violation('createAfterAnonymousSearch', operation, `create for ${email} right after its search was answered anonymously`);
  }
}

export const userRoutes: Route[] = [
  {
    method: 'GET',
    template: '/rest/api/3/user/search',
    operation: 'findUsers',
    anonymousAllowed: true,
    handle(req) {
      const { ctx } = req;
      if (!req.query.has('query') && !req.query.has('accountId') && !req.query.has('property')) {
        return platformError(400, ["One of 'query', 'accountId' or 'property' must be specified."]);
      }
      const q = (req.query.get('query') ?? '').trim().toLowerCase();
      if (req.authFailed) ctx.anonymousSearches.add(q);
      // Without "Browse users and groups" (or anonymously) Jira finds nobody, and says so with 200.
      if (!has(req.account, 'USER_PICKER')) return { status: 200, body: [] };
      ctx.anonymousSearches.delete(q);
      const startAt = intParam(req.query, 'startAt', 0);
      const max = Math.min(intParam(req.query, 'maxResults', 50), USER_SEARCH_PAGE_CAP);
      const byId = req.query.get('accountId');
      // "Returns a list of active users" (spec, findUsers): a deactivated account is not found (docs/jira-permissions.md).
      const found = [...ctx.state.accounts.values()].filter((a) => a.accountType !== 'app' && a.active && (byId ? a.accountId === byId : matches(a, q)));
      return { status: 200, body: found.slice(startAt, startAt + max).map((a) => userJson(ctx, a)) };
    },
  },
  {
    method: 'GET',
    template: '/rest/api/3/myself',
    operation: 'getCurrentUser',
    handle(req) {
      const body = userJson(req.ctx, req.account!, true);
      const expand = (req.query.get('expand') ?? '').split(',').map((e) => e.trim());
      if (expand.includes('groups')) {
        const { ctx } = req;
        const mine = [...ctx.state.groups.values()].filter((g) => g.members.has(req.account!.accountId));
        const items = mine.map((g) => ({ name: g.name, groupId: g.groupId, self: `${ctx.url()}/rest/api/3/group?groupId=${g.groupId}` }));
        // Site administration is membership of site-admins: shown even where the seed made no such group.
        if (req.account!.siteAdmin && !mine.some((g) => g.name === 'site-admins')) {
          items.push({ name: 'site-admins', groupId: 'site-admins-sim', self: `${ctx.url()}/rest/api/3/group?groupId=site-admins-sim` });
        }
        body.groups = { size: items.length, items };
      }
      return { status: 200, body };
    },
  },
  {
    method: 'GET',
    template: '/rest/api/3/mypermissions',
    operation: 'getMyPermissions',
    anonymousAllowed: true,
    handle(req) {
      const keys = (req.query.get('permissions') ?? '').split(',').map((k) => k.trim()).filter(Boolean);
      if (keys.length === 0) return platformError(400, ['The permissions query parameter is required.']);
      const unknown = keys.filter((k) => !GLOBAL_PERMISSIONS.includes(k) && !PROJECT_PERMISSIONS.includes(k));
      if (unknown.length) return platformError(400, [`Unrecognized permission keys: ${unknown.join(', ')}`]);
      // Project context (projectId wins over projectKey, as the spec says); an unknown project is a 404.
      const pref = req.query.get('projectId') ?? req.query.get('projectKey');
      const project = pref ? req.ctx.state.project(pref) : undefined;
      if (pref && !project) return platformError(404, [`No project could be found with key '${pref}'.`]);
      const permissions: Record<string, unknown> = {};
      for (const key of keys) {
        permissions[key] = {
          id: String(GLOBAL_PERMISSIONS.indexOf(key) + 1 || PROJECT_PERMISSIONS.indexOf(key) + 10),
          key,
          name: key.toLowerCase().replace(/_/g, ' '),
          type: GLOBAL_PERMISSIONS.includes(key) ? 'GLOBAL' : 'PROJECT',
          description: `Simulated ${key}`,
          havePermission: GLOBAL_PERMISSIONS.includes(key) ? has(req.account, key) : has(req.account, key, project?.key),
        };
      }
      return { status: 200, body: { permissions } };
    },
  },
  {
    method: 'POST',
    template: '/rest/api/3/user',
    operation: 'createUser',
    handle(req) {
      const { ctx } = req;
      const b = (req.json ?? {}) as { emailAddress?: unknown; products?: unknown; displayName?: unknown };
      if (!req.account!.siteAdmin) return forbidden('create users (site administration is required)');
      if (typeof b.emailAddress !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(b.emailAddress)) {
        return platformError(400, [], { emailAddress: 'You must specify a valid email address.' });
      }
      if (!Array.isArray(b.products)) return platformError(400, [], { products: 'products is required: list the products the user gets, or [] for none.' });
      const bad = b.products.filter((p) => !KNOWN_PRODUCTS.includes(String(p)));
      if (bad.length) return platformError(400, [`Invalid products: ${bad.join(', ')}`]);
      const email = b.emailAddress.trim().toLowerCase();
      createExistingChecks(req, 'createUser', email);
      // The spec (createUser): "If the user exists and has access to Jira, the operation returns
      // a 201 status. If the user exists but does not have access to Jira, the operation returns
      // a 400 status." The 201 carries the existing account: nothing tells it from a new one.
      // Asking for products for an account without access grants them (a licence bought).
      const existing = ctx.state.accountsByEmail(email)[0];
      if (existing) {
        if (existing.products.length > 0) return { status: 201, body: userJson(ctx, existing) };
        if (b.products.length === 0) return platformError(400, [], { emailAddress: 'A user with that email address already exists.' });
        existing.products = b.products.map(String);
        return { status: 201, body: userJson(ctx, existing) };
      }
      const a = ctx.state.addAccount({
        email,
        displayName: typeof b.displayName === 'string' && b.displayName ? b.displayName : email.split('@')[0]!,
        products: b.products.map(String),
      });
      a.createdAt = Date.now();
      return { status: 201, body: userJson(ctx, a) };
    },
  },
  {
    method: 'POST',
    template: '/rest/api/3/group/user',
    operation: 'addUserToGroup',
    handle(req) {
      const { ctx } = req;
      if (!req.account!.siteAdmin && !has(req.account, 'ADMINISTER')) return forbidden('manage group membership');
      const group = ctx.state.group({ groupId: req.query.get('groupId') ?? undefined, name: req.query.get('groupname') ?? undefined });
      if (!group) return platformError(404, ['Specified group does not exist.']);
      const accountId = (req.json as { accountId?: unknown } | undefined)?.accountId;
      const user = typeof accountId === 'string' ? ctx.state.accounts.get(accountId) : undefined;
      // A just-created account has not reached the site's directory yet (centralized user management).
      const propagating = user?.createdAt !== undefined && Date.now() - user.createdAt < ctx.state.userPropagationMs;
      if (!user || propagating) return platformError(404, [`The user with account ID '${String(accountId)}' does not exist.`]);
      if (group.members.has(user.accountId)) {
        return platformError(400, [`Cannot add user. User is already a member of '${group.name}'`]);
      }
      group.members.add(user.accountId);
      return { status: 201, body: { name: group.name, groupId: group.groupId, self: `${ctx.url()}/rest/api/3/group?groupId=${group.groupId}` } };
    },
  },
  {
    method: 'GET',
    template: '/rest/api/3/group/member',
    operation: 'getUsersFromGroup',
    handle(req) {
      const { ctx } = req;
      if (!has(req.account, 'USER_PICKER')) return forbidden('browse users and groups');
      if (!req.query.get('groupId') && !req.query.get('groupname')) return platformError(400, ['Either groupname or groupId must be provided.']);
      const group = ctx.state.group({ groupId: req.query.get('groupId') ?? undefined, name: req.query.get('groupname') ?? undefined });
      if (!group) return platformError(404, ['Specified group does not exist.']);
      const includeInactive = req.query.get('includeInactiveUsers') === 'true';
      const members = ctx.state.groupMembers(group).filter((a) => includeInactive || a.active);
      const startAt = intParam(req.query, 'startAt', 0);
      const max = Math.min(intParam(req.query, 'maxResults', 50), GROUP_MEMBER_PAGE_CAP);
      const values = members.slice(startAt, startAt + max);
      const isLast = startAt + values.length >= members.length;
      const link = (s: number) =>
        `${ctx.url()}/rest/api/3/group/member?groupId=${group.groupId}&includeInactiveUsers=${includeInactive}&startAt=${s}&maxResults=${max}`;
      return {
        status: 200,
        body: {
          self: link(startAt),
          ...(isLast ? {} : { nextPage: link(startAt + values.length) }),
          maxResults: max,
          startAt,
          total: members.length,
          isLast,
          values: values.map((a) => userDetailsJson(ctx, a)),
        },
      };
    },
  },
];
