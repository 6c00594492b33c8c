// The deliverer role: turns resolved mail into Jira issues, JSM requests and comments.
import { delivererRole } from '../src/roles/stations.js';
import { entryArgs, runRoles } from '../src/roles/runtime.js';

const args = entryArgs('deliverer');
await runRoles('deliverer', [delivererRole()], args);
