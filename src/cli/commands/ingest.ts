// `mailroom ingest FILE_OR_DIR...`: feed .eml and mbox files without IMAP. Each mail is stored
// in the configured mail store, parsed and classified, and printed as a row.
import type { Command } from 'commander';
import { NotFoundError } from '../../errors.js';
import { ingestFiles } from '../../mail/ingest-files.js';
import { createMailStore } from '../../mail/store.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, err, out, printJson, table } from '../output.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('ingest')
    .description('store, parse and classify .eml and mbox files (directories are searched recursively)')
    .argument('<paths...>', '.eml or mbox files, or directories holding them')
    .option('--json', 'print a JSON array of rows instead of a table')
    .addHelpText(
      'after',
      '\nExit status: 0 when every file was read (an unparseable mail is a result, not an error),\n' +
        '1 when a file could not be read, 2 when a path does not exist.\n\n' +
        'Examples:\n  mailroom ingest mail/complaint.eml\n  mailroom ingest ~/Mail/support.mbox --json',
    )
    .action(async (paths: string[], opts: { json?: boolean }) => {
      const config = ctx.config();
      const store = createMailStore(config, () => ctx.redis());
      let rows;
      try {
        rows = await ingestFiles(paths, { store });
      } catch (e) {
        if (e instanceof NotFoundError) throw new CliError(e.message, EXIT.usage);
        throw e;
      }
      if (opts.json) printJson(rows);
      else {
        out(
          table(
            ['FILE', 'KIND', 'FROM', 'SUBJECT'],
            rows.map((r) => [r.source, r.kind ?? 'error', r.from ?? '', clip(r.error ?? r.subject ?? '', 70)]),
          ),
        );
        const counts = new Map<string, number>();
        for (const r of rows) counts.set(r.kind ?? 'error', (counts.get(r.kind ?? 'error') ?? 0) + 1);
        out(`\n${rows.length} mail${rows.length === 1 ? '' : 's'}: ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'none found'}`);
      }
      const unread = rows.filter((r) => r.error);
      if (unread.length) {
        for (const r of unread) err(`mailroom: could not read ${r.source}: ${r.error}`);
        process.exitCode = EXIT.failed;
      }
    });
}

function clip(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
}
