// Every role in one process (`npm start`): for small installs and trials. `--no-auth` runs
// the web role without credentials, allowed only on loopback.
import { allRoles } from '../src/roles/all.js';
import { runRoles } from '../src/roles/runtime.js';

const argv = process.argv.slice(2);
await runRoles('all', allRoles({ noAuth: argv.includes('--no-auth') }), argv);
