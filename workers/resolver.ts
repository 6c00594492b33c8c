// The resolver role: finds each inbound mail's people in Jira and waits for their accounts.
import { resolverRole } from '../src/pipeline/roles.js';
import { runRoles } from '../src/runtime.js';

await runRoles('resolver', [resolverRole()]);
