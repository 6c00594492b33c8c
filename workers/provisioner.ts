// The provisioner role: creates Jira users or JSM customers, once per site and email.
import { provisionerRole } from '../src/pipeline/roles.js';
import { runRoles } from '../src/runtime.js';

await runRoles('provisioner', [provisionerRole()]);
