// The resolver role: finds each inbound mail's people in Jira and waits for their accounts.
import { resolverRole } from '../src/identity/role.js';
import { runRoles } from '../src/roles/runtime.js';

await runRoles('resolver', [resolverRole()]);
