// Every role, for `mailroom start` / `npm start` (all roles in one process). In production
// each role usually runs as its own process (Procfile); any role runs in any number of copies.
import { delivererRole } from './deliver/role.js';
import { pollerRole } from './imap/role.js';
import { notifierRole } from './notify/role.js';
import { provisionerRole, resolverRole } from './pipeline/roles.js';
import type { RoleStarter } from './runtime.js';
import { webRole } from './web/role.js';

export interface AllRolesOptions {
  /** Run the web role without credentials (loopback only). */
  noAuth?: boolean;
}

export function allRoles(opts: AllRolesOptions = {}): RoleStarter[] {
  const notifier = notifierRole();
  return [
    pollerRole(),
    resolverRole(),
    provisionerRole(),
    delivererRole(),
    // The notifier needs SMTP settings; an install that only reads mail has none.
    async (ctx) => (ctx.config.smtp ? notifier(ctx) : { stop: async () => undefined }),
    webRole({ noAuth: opts.noAuth }),
  ];
}
