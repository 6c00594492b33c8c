// The notifier role: mails Jira events to the expanded members of user groups.
import { notifierRole } from '../src/notify/role.js';
import { runRoles } from '../src/roles/runtime.js';

await runRoles('notifier', [notifierRole()]);
