// The notifier role: mails Jira events to the expanded members of user groups, and customers their acknowledgements and agents' replies (src/respond/).
import { notifierRole } from '../src/roles/stations.js';
import { entryArgs, runRoles } from '../src/roles/runtime.js';

const args = entryArgs('notifier');
await runRoles('notifier', [notifierRole()], args);
