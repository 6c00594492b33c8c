// `mailroom reconcile [--dry-run] [--days N] [--json]`: the deliverer's reconcile pass, now: a
// mail that became two open issues (Jira's search lagged beyond the recovery window) keeps the
// oldest; the newer ones are resolved as its duplicates (src/deliver/reconcile.ts). The
// deliverer role runs it every 10 minutes by itself.
import type { Command } from 'commander';
import { describeError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, inline, out, printJson } from '../output.js';
import { reachRedis } from '../redis-reach.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('reconcile')
    .description('resolve issues made twice from one mail (Jira\'s search lagged beyond the recovery window): keep the oldest, link and close the others')
    .option('--dry-run', 'only list what would be resolved')
    .option('--days <n>', 'look at issues created in the last n days', '2')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
For each configured deliver.project, reads the issues created in the last --days with their
mailroom.message property; a mail with two or more open issues keeps the oldest, and each
other one gets a Duplicate link to it, a comment, and a transition to a done status
(resolution Duplicate where the screen offers it). The deliverer runs this every 10 minutes.

Examples:
  mailroom reconcile --dry-run
  mailroom reconcile --days 7 --json`,
    )
    .action(async (opts: { dryRun?: boolean; days: string; json?: boolean }) => {
      const days = Number(opts.days);
      if (!Number.isFinite(days) || days <= 0 || days > 400) throw new CliError(`--days must be a number of days between 0 and 400, not "${opts.days}"`, EXIT.usage);
      const config = ctx.config();
      const redis = await reachRedis(ctx);
      const [{ loadSecretKey }, { loadTokenCredentials }, { jiraClientFactory }, { reconcilePass }] = await Promise.all([
        import('../../token/key.js'),
        import('../../token/source.js'),
        import('../../token/runtime.js'),
        import('../../deliver/reconcile.js'),
      ]);
      let creds;
      try {
        creds = await loadTokenCredentials(redis, config, loadSecretKey(config.secretKey));
      } catch (e) {
        throw new CliError(`cannot reconcile: ${describeError(e)}`, EXIT.usage);
      }
      const factory = jiraClientFactory(config, silentLogger, redis);
      try {
        const projects = config.mailboxes.map((m) => m.deliver?.project).filter((p): p is string => !!p);
        const report = await reconcilePass({ redis, prefix: config.prefix, client: factory(creds), projects, lookbackMs: days * 24 * 3600_000, dryRun: opts.dryRun });
        process.exitCode = report.ran && !report.skipped.length && report.findings.every((f) => f.left.length === 0) ? EXIT.ok : EXIT.failed;
        if (opts.json) return printJson({ dryRun: !!opts.dryRun, ...report });
        if (!report.ran) return out('another reconcile pass is running (a deliverer holds the lock): nothing done');
        out(`${report.scanned} issues read in ${projects.join(', ') || '(no deliver.project configured)'}`);
        for (const f of report.findings) {
          out(`${inline(f.mail)}: kept ${inline(f.kept)}; ${opts.dryRun ? 'would resolve' : 'resolved'} ${inline(f.resolved.join(', ')) || '-'}${f.left.map((l) => `; left ${inline(l.key)} open: ${inline(l.why)}`).join('')}`);
        }
        for (const x of report.skipped) out(`${inline(x.project)}: not reconciled: ${inline(x.why)}`);
        if (!report.findings.length) out('no mail has two open issues');
      } finally {
        await factory.close();
      }
    });
}
