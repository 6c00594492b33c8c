// The poller role: reads the configured IMAP mailboxes into mail-inbound jobs, and performs
// the mailbox actions (move, flag) once mail is finished downstream. See src/imap/.
// First: the young generation must stay small from the start (src/core/young-generation.ts).
import '../src/core/young-generation.js';
import { pollerRole } from '../src/imap/role.js';
import { entryArgs, runRoles } from '../src/roles/runtime.js';

const args = entryArgs('poller');
await runRoles('poller', [pollerRole()], args);
