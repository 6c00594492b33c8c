// The deliverer role: turns resolved mail into Jira issues, JSM requests and comments.
import { delivererRole } from '../src/deliver/role.js';
import { runRoles } from '../src/roles/runtime.js';

await runRoles('deliverer', [delivererRole()]);
