// Every role in one process (`npm start`): for small installs and trials. `--no-auth` runs
// the web role without credentials, allowed only on loopback.
import { allRoles } from '../src/roles/all.js';
import { entryArgs, runRoles } from '../src/roles/runtime.js';

const args = entryArgs('all', { noAuth: true });
await runRoles('all', allRoles({ noAuth: args.noAuth }), args);
