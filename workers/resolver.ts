// The resolver role: finds each inbound mail's people in Jira and waits for their accounts.
import { resolverRole } from '../src/roles/stations.js';
import { entryArgs, runRoles } from '../src/roles/runtime.js';

const args = entryArgs('resolver');
await runRoles('resolver', [resolverRole()], args);
