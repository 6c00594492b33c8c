// Every role, for `mailroom start` / `npm start` (all roles in one process). In production
// each role usually runs as its own process (Procfile); any role runs in any number of copies.
import { pollerRole } from '../imap/role.js';
import { delivererRole, notifierRole, provisionerRole, resolverRole } from './stations.js';
import type { RoleStarter } from './runtime.js';
import { webRole } from '../web/role.js';

export interface AllRolesOptions {
  /** Run the web role without credentials (loopback only). */
  noAuth?: boolean;
}

export type RoleName = 'poller' | 'resolver' | 'provisioner' | 'deliverer' | 'notifier' | 'web';

export function rolesByName(opts: AllRolesOptions = {}): Record<RoleName, RoleStarter> {
  return {
    poller: pollerRole(),
    resolver: resolverRole(),
    provisioner: provisionerRole(),
    deliverer: delivererRole(),
    // Without an smtp section the notifier idles with one log line (src/notify/role.ts).
    notifier: notifierRole(),
    web: webRole({ noAuth: opts.noAuth }),
  };
}

export function allRoles(opts: AllRolesOptions = {}): RoleStarter[] {
  return Object.values(rolesByName(opts));
}
