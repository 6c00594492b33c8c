// `mailroom restore-mark`: the last step of restoring Redis from a backup (docs/state-loss.md).
// A restored ledger is older than Jira: mail delivered after the snapshot has no ledger entry,
// and without this mark it would be created again. The mark moves the ledger's birth stamp to
// now, so every mail that arrived before it gets a recovery look in Jira before any create.
import type { Command } from 'commander';
import { markRestored } from '../../ops/state-loss.js';
import type { CliContext } from '../context.js';
import { reachRedis } from '../redis-reach.js';
import { out, printJson } from '../output.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('restore-mark')
    .description('after restoring Redis from a backup: make delivery look in Jira before creating anything for mail that arrived before now')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Run it once, with the roles stopped, after the restored Redis is up and before the roles start.
Safe to run again (it only widens the recovery look). Not needed after a wipe: an empty Redis
gets a new ledger stamp by itself.

Examples:
  mailroom restore-mark`,
    )
    .action(async (opts: { json?: boolean }) => {
      const config = ctx.config();
      const redis = await reachRedis(ctx);
      const r = await markRestored(redis, config.prefix);
      if (opts.json) return printJson(r);
      const before = r.previousBornAt ? new Date(r.previousBornAt).toISOString() : 'none';
      out(`marked as restored: the delivery ledger's birth stamp moved from ${before} to ${new Date(r.bornAt).toISOString()}`);
      out('every mail that reached its mailbox before now gets a recovery look in Jira before a create; start the roles now');
    });
}
