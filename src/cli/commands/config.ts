import type { Command } from 'commander';
import { maskedConfig } from '../../config/load.js';
import type { CliContext } from '../context.js';
import { err, out, printJson } from '../output.js';
import { stringify } from 'yaml';

export function register(program: Command, ctx: CliContext): void {
  const config = program
    .command('config')
    .description('inspect the configuration')
    .addHelpText('after', '\nExamples:\n  mailroom config check\n  MAILROOM_CONFIG=/etc/mailroom.yml mailroom config check --json');
  config
    .command('check')
    .description('validate the configuration and print it with secrets masked (exit 2 and every problem if invalid)')
    .option('--json', 'print JSON instead of YAML')
    .addHelpText('after', '\nExamples:\n  mailroom config check\n  mailroom --config /etc/mailroom.yml config check --json')
    .action((opts: { json?: boolean }) => {
      const masked = maskedConfig(ctx.config());
      if (opts.json) printJson(masked);
      else out(`# effective configuration from ${ctx.config().source} (secrets masked)\n` + stringify(masked));
      // Not an error here: only the named role needs the secret, and refuses to start without it.
      for (const m of ctx.config().missingSecrets) err(`note: ${m.path}: ${m.message} (the ${m.role} role will not start without it)`);
    });
}
