// The provisioner role: creates Jira users or JSM customers, once per site and email.
import { provisionerRole } from '../src/identity/role.js';
import { runRoles } from '../src/roles/runtime.js';

await runRoles('provisioner', [provisionerRole()]);
