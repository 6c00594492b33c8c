// `mailroom`: the command line for people and scripts. Each command lives in ./commands/.
import { Command, CommanderError } from 'commander';
import { loadCommands } from './commands/index.js';
import { createContext } from './context.js';
import { EXIT, reportError } from './output.js';
import { redisUnavailable } from './redis-reach.js';
import { mailroomVersion } from './version.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('mailroom')
    .description('Mailroom: turns a support mailbox into Jira Cloud work')
    .version(mailroomVersion(), '-V, --version', 'print the version and exit')
    .option('-c, --config <path>', 'configuration file (default: $MAILROOM_CONFIG or ./mailroom.yml)')
    .showHelpAfterError('(add --help for usage and examples)')
    .exitOverride();
  const ctx = createContext(program);
  for (const register of await loadCommands(argv)) register(program, ctx);
  program.commands.forEach(function override(c: Command) {
    c.exitOverride();
    c.commands.forEach(override);
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; usage mistakes exit 2 (commander has printed why).
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    // Whatever the command was doing, a Redis that never answered is the reason: say that.
    const down = ctx.redisFailure(e);
    return reportError(down ? redisUnavailable(down) : e);
  } finally {
    await ctx.close();
  }
}

// A reader that stops early (`mailroom … | head -1`) closes the pipe: that ends the output, it
// is not a failure worth a stack trace. Any other stream error still crashes loudly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT.ok);
    throw e;
  });
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
