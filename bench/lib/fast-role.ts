// A role process for crash drills: the same role code as workers/<role>.ts, with a 2 s job lock
// and a 1 s stall check so a SIGKILLed role's jobs come back in seconds, not BullMQ's 30 s.
// `node --import tsx bench/lib/fast-role.ts resolver|provisioner|deliverer`
import { delivererRole } from '../../src/roles/stations.js';
import { provisionerRole, resolverRole } from '../../src/roles/stations.js';
import { runRoles, type RoleStarter } from '../../src/roles/runtime.js';

const FAST = { lockDuration: 2000, stalledInterval: 1000 };
const starters: Record<string, () => RoleStarter> = {
  resolver: () => resolverRole(FAST),
  provisioner: () => provisionerRole(FAST),
  // The per-mail hold outlives a lock or two, as DEFAULT_LOCK_MS does at normal settings.
  deliverer: () => delivererRole({ ...FAST, mailLockMs: 4000 }),
};

const role = process.argv[2] ?? '';
const make = starters[role];
if (!make) {
  process.stderr.write(`fast-role: no such role "${role}" (resolver, provisioner, deliverer)\n`);
  process.exit(2);
}
await runRoles(role, [make()], process.argv.slice(3));
