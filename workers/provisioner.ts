// The provisioner role: creates Jira users or JSM customers, once per site and email.
import { provisionerRole } from '../src/roles/stations.js';
import { entryArgs, runRoles } from '../src/roles/runtime.js';

const args = entryArgs('provisioner');
await runRoles('provisioner', [provisionerRole()], args);
