// `mailroom store prune [--dry-run]`: delete raw mail no job needs any more and that was last
// needed over store.retention ago (src/mail/retention.ts), with the delivery content stored
// beside it (counted in the sizes shown); the poller does the same hourly.
import type { Command } from 'commander';
import { MAIL_QUEUES, pruneStore } from '../../mail/retention.js';
import { DEFAULT_STORE_RETENTION } from '../../mail/retention.js';
import { createMailStore } from '../../mail/store.js';
import { queueNamed } from '../../queues/queue.js';
import type { CliContext } from '../context.js';
import { reachRedis } from '../redis-reach.js';
import { EXIT, out, printJson } from '../output.js';

export function register(program: Command, ctx: CliContext): void {
  const store = program
    .command('store')
    .description('the raw mail store')
    .addHelpText(
      'after',
      `
Raw mail (with the delivery content stored beside it) is kept while a job needs it, then for
store.retention (default ${DEFAULT_STORE_RETENTION}); \`mailroom status\` shows the store's size.

Examples:
  mailroom store prune --dry-run`,
    );
  store
    .command('prune')
    .description('delete raw mail (and its stored delivery content) that no job needs and that was last needed over store.retention ago')
    .option('--dry-run', 'only count what would be deleted')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Kept: mail a waiting, delayed, active or failed job still carries, and mail needed less than
store.retention (default ${DEFAULT_STORE_RETENTION}) ago. The poller runs this hourly.

Examples:
  mailroom store prune --dry-run
  mailroom store prune --json`,
    )
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const config = ctx.config();
      const redis = await reachRedis(ctx);
      const queues = MAIL_QUEUES.map((name) => queueNamed(name, redis, config.prefix));
      try {
        const report = await pruneStore({
          store: createMailStore(config, redis),
          queues,
          redis,
          prefix: config.prefix,
          retention: config.store.retention ?? DEFAULT_STORE_RETENTION,
          dryRun: opts.dryRun,
        });
        process.exitCode = EXIT.ok;
        if (opts.json) return printJson(report);
        const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
        out(`${report.dryRun ? 'would prune' : 'pruned'}: ${report.pruned.mails} mails, ${mb(report.pruned.bytes)} (retention ${report.retention})`);
        out(`kept: ${report.mails} mails, ${mb(report.bytes)} (${report.needed} still needed by jobs, ${report.recent} within retention)`);
      } finally {
        await Promise.all(queues.map((q) => q.close()));
      }
    });
}
