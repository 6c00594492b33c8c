// Every CLI command module, in the order `mailroom --help` lists them. Modules are loaded on
// demand: `mailroom token status` loads the token command only, not the parser, the web
// server and the simulator, so a command starts in a fraction of the time.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export type Register = (program: Command, ctx: CliContext) => void;

type Loader = () => Promise<{ register: Register }>;

export const commandModules: Record<string, Loader> = {
  config: () => import('./config.js'),
  ingest: () => import('./ingest.js'),
  start: () => import('./start.js'),
  status: () => import('./status.js'),
  mailboxes: () => import('./mailboxes.js'),
  failed: () => import('./failed.js'),
  audit: () => import('./audit.js'),
  reprocess: () => import('./reprocess.js'),
  store: () => import('./store.js'),
  reconcile: () => import('./reconcile.js'),
  'restore-mark': () => import('./restore-mark.js'),
  token: () => import('./token.js'),
  'jira-sim': () => import('./jira-sim.js'),
  notify: () => import('./notify.js'),
  respond: () => import('./respond.js'),
};

/**
 * The commands to register for these arguments: the one named (when it is known), or all of
 * them (help, a typo, no command) so commander can list them or suggest one.
 */
export async function loadCommands(argv: readonly string[]): Promise<Register[]> {
  const name = commandName(argv);
  const names = name && commandModules[name] ? [name] : Object.keys(commandModules);
  const modules = await Promise.all(names.map((n) => commandModules[n]!()));
  return modules.map((m) => m.register);
}

/** The first argument that is not a global option (nor the value of -c/--config). */
export function commandName(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c' || a === '--config') {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}
