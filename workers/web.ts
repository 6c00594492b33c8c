// The web role: Bull Board, /healthz, /readyz, /metrics. `--no-auth` (loopback only) runs the
// board without credentials for a local trial.
import { runRoles } from '../src/roles/runtime.js';
import { webRole } from '../src/web/role.js';

const argv = process.argv.slice(2);
await runRoles('web', [webRole({ noAuth: argv.includes('--no-auth') })], argv);
