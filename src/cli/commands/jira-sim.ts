// `mailroom jira-sim`: the Jira Cloud simulator as a process, for trying Mailroom out without
// a Jira site and for driving the demo and benchmark from other processes (/__sim/...).
import type { Command } from 'commander';
import { seedDemo, startJiraSim } from '../../jira-sim/index.js';
import type { CliContext } from '../context.js';
import { CliError, out, printJson } from '../output.js';

function int(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new CliError(`--${name} takes a whole number, not "${v}"`);
    return Number(v);
  };
}

export function register(program: Command, _ctx: CliContext): void {
  program
    .command('jira-sim')
    .description('run the Jira Cloud simulator on loopback (controls and counters under /__sim/...)')
    .option('-p, --port <port>', 'port to listen on (0 picks a free one)', int('port'), 8089)
    .option('--host <host>', 'address to bind (keep it on loopback)', '127.0.0.1')
    .option('--seed-demo', 'create a small believable site: workaround admin + token, users, groups, project SUP, service desk 1 (HD)')
    .option('--latency <ms>', 'added latency per request', int('latency'), 0)
    .option('--jitter <ms>', 'random ± jitter on the latency', int('jitter'), 0)
    .option('--seed <n>', 'seed for ids and fault patterns', int('seed'), 1)
    .option('--specs <dir>', "check requests against Atlassian's OpenAPI specs in this directory (needs ajv)")
    .option('--json', 'print the start details (url, admin email and token) as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  mailroom jira-sim --port 8089 --seed-demo\n  mailroom jira-sim --port 0 --seed-demo --json\n' +
        '  curl -s localhost:8089/__sim/counters\n' +
        '  curl -s -XPOST localhost:8089/__sim/faults -d \'{"rateLimit":{"count":3,"retryAfterSec":2}}\'',
    )
    .action(async (o: { port: number; host: string; seedDemo?: boolean; latency: number; jitter: number; seed: number; specs?: string; json?: boolean }) => {
      const sim = await startJiraSim({
        port: o.port,
        host: o.host,
        latencyMs: o.latency,
        jitterMs: o.jitter,
        seed: o.seed,
        ...(o.specs ? { specsDir: o.specs } : {}),
      });
      const site = o.seedDemo ? seedDemo(sim) : undefined;
      if (o.json) {
        printJson({ url: sim.url, checksSchema: sim.checksSchema, ...(site ? { admin: site.admin, serviceDesk: site.serviceDesk, project: site.project } : {}) });
      } else {
        out(`Jira simulator listening on ${sim.url}${sim.checksSchema ? ' (checking requests against the OpenAPI specs)' : ''}`);
        if (site) {
          out(`Workaround admin: ${site.admin.email}`);
          out(`API token:        ${site.admin.token}   (a simulator token: worthless outside this process)`);
          out(`Project SUP; service desk ${site.serviceDesk.id} (project ${site.serviceDesk.projectKey}), request type ${site.serviceDesk.requestTypeId}`);
          out(`Try: JIRA_BASE_URL=${sim.url} with the email and token above.`);
        }
        out('Controls: GET /__sim/counters, GET /__sim/state, POST /__sim/faults, POST /__sim/reset (Ctrl-C to stop)');
      }
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await sim.close();
    });
}
