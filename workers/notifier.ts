// The notifier role: mails Jira events to the expanded members of user groups.
import { notifierRole } from '../src/notify/role.js';
import { entryArgs, runRoles } from '../src/roles/runtime.js';

const args = entryArgs('notifier');
await runRoles('notifier', [notifierRole()], args);
