// The notifier role: mails Jira events to the expanded members of user groups, and customers their acknowledgements and agents' replies (src/respond/).
import { notifierWithReplies } from '../src/respond/role.js';
import { runRoles } from '../src/roles/runtime.js';

await runRoles('notifier', [notifierWithReplies()]);
