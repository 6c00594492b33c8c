// The poller role: reads the configured IMAP mailboxes into mail-inbound jobs, and performs
// the mailbox actions (move, flag) once mail is finished downstream. See src/imap/.
import { pollerRole } from '../src/imap/role.js';
import { runRoles } from '../src/roles/runtime.js';

await runRoles('poller', [pollerRole()]);
