// `mailroom start`: run roles in this process, all of them by default (as `npm start`).
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError } from '../output.js';

const ROLES = ['poller', 'resolver', 'provisioner', 'deliverer', 'notifier', 'web'] as const;

export function register(program: Command, _ctx: CliContext): void {
  program
    .command('start')
    .description('run Mailroom\'s roles in this process until SIGTERM/SIGINT (all of them by default)')
    .option('-r, --role <role...>', `roles to run: ${ROLES.join(', ')}`)
    .option('--no-auth', 'run the web role without credentials (allowed only on loopback)')
    .option('--pretty', 'human-readable log lines (the default when stderr is a terminal)')
    .option('--no-pretty', 'JSON log lines even at a terminal (the default otherwise)')
    .addHelpText(
      'after',
      '\nIn production each role usually runs as its own process (see the Procfile); any role runs in\n' +
        'any number of copies.\n\nExamples:\n  mailroom start\n  mailroom --config /etc/mailroom.yml start --role resolver provisioner\n  mailroom start --no-auth      # a local trial with the board open on loopback\n' +
        '  LOG_LEVEL=debug PORT=8080 mailroom start --role web --pretty',
    )
    .action(async (opts: { role?: string[]; auth: boolean; pretty?: boolean }) => {
      const unknown = (opts.role ?? []).filter((r) => !(ROLES as readonly string[]).includes(r));
      if (unknown.length) throw new CliError(`unknown role ${unknown.join(', ')}: use ${ROLES.join(', ')}`);
      const [{ runRoles }, roles] = await Promise.all([import('../../roles/runtime.js'), import('../../roles/all.js')]);
      const chosen = opts.role?.length ? opts.role : [...ROLES];
      const starters = roles.rolesByName({ noAuth: !opts.auth });
      const config = program.opts<{ config?: string }>().config;
      await runRoles(
        chosen.length === ROLES.length ? 'all' : chosen.join('+'),
        chosen.map((r) => starters[r as (typeof ROLES)[number]]),
        { config, pretty: opts.pretty, noAuth: !opts.auth },
      );
      // Keep the command (and its process) alive until a signal ends it: runRoles exits then.
      await new Promise(() => undefined);
    });
}
