// The web role: Bull Board, /healthz, /readyz, /metrics. `--no-auth` (loopback only) runs the
// board without credentials for a local trial.
import { entryArgs, runRoles } from '../src/roles/runtime.js';
import { webRole } from '../src/web/role.js';

const args = entryArgs('web', { noAuth: true });
await runRoles('web', [webRole({ noAuth: args.noAuth })], args);
