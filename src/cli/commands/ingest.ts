// `mailroom ingest FILE_OR_DIR...`: feed .eml and mbox files without IMAP. Each mail is stored
// in the configured mail store, parsed and classified, enqueued into the pipeline (job id =
// sha256 of its bytes, so feeding the same file twice is a no-op), and printed as a row.
import type { Command } from 'commander';
import { NotFoundError } from '../../core/errors.js';
import { ingestFiles } from '../../mail/ingest-files.js';
import { createMailStore } from '../../mail/store.js';
import { mailInbound } from '../../queues/catalog.js';
import { addJob, openQueue } from '../../queues/queue.js';
import type { MailRecord } from '../../mail/record.js';
import { ownMailOptions } from '../../mail/loop.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, err, inline, out, printJson, table } from '../output.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('ingest')
    .description('store, parse and classify .eml and mbox files (directories are searched recursively)')
    .argument('<paths...>', '.eml or mbox files, or directories holding them')
    .option('--json', 'print a JSON array of rows instead of a table')
    .option('-m, --mailbox <id>', 'the configured mailbox whose policy applies (default: the first one)')
    .option('--no-enqueue', 'only store, parse and classify: do not feed the pipeline')
    .addHelpText(
      'after',
      '\nExit status: 0 when every file was read (an unparseable mail is a result, not an error),\n' +
        '1 when a file could not be read, 2 when a path does not exist.\n\n' +
        'Examples:\n  mailroom ingest mail/complaint.eml\n  mailroom ingest --mailbox helpdesk ~/Mail/support.mbox --json\n' +
        '  mailroom ingest --no-enqueue ../shared/corpora/mikel-mail',
    )
    .action(async (paths: string[], opts: { json?: boolean; mailbox?: string; enqueue: boolean }) => {
      const config = ctx.config();
      const mailbox = opts.mailbox ? config.mailboxes.find((m) => m.id === opts.mailbox) : config.mailboxes[0];
      if (!mailbox) {
        throw new CliError(`no mailbox "${opts.mailbox}" in ${config.source}: use one of ${config.mailboxes.map((m) => m.id).join(', ')}`);
      }
      const store = createMailStore(config, () => ctx.redis());
      const queue = opts.enqueue ? openQueue(mailInbound, { connection: ctx.redis(), prefix: config.prefix }) : undefined;
      const queued = new Map<string, 'queued' | 'already queued'>();
      const onMail = queue
        ? async (record: MailRecord, source: string) => {
            const data = { mailboxId: mailbox.id, origin: { kind: 'file' as const, name: source }, record, receivedAt: new Date().toISOString() };
            const existed = await queue.getJob(mailInbound.jobId(data));
            await addJob(queue, mailInbound, data, config.queues);
            queued.set(source, existed ? 'already queued' : 'queued');
          }
        : undefined;
      let rows;
      try {
        rows = await ingestFiles(paths, { store, parse: ownMailOptions(config.smtp), onMail }).finally(() => queue?.close());
      } catch (e) {
        if (e instanceof NotFoundError) throw new CliError(e.message, EXIT.usage);
        throw e;
      }
      if (opts.json) printJson(rows.map((r) => (queue ? { ...r, queued: queued.get(r.source) ?? 'not queued' } : r)));
      else {
        const headers = ['FILE', 'KIND', 'FROM', 'SUBJECT', ...(queue ? ['QUEUED'] : [])];
        out(
          table(
            headers,
            rows.map((r) => [
              r.source,
              r.kind ?? 'error',
              r.from ?? '',
              inline(r.error ?? r.subject, 60),
              ...(queue ? [queued.get(r.source) ?? 'no'] : []),
            ]),
          ),
        );
        const counts = new Map<string, number>();
        for (const r of rows) counts.set(r.kind ?? 'error', (counts.get(r.kind ?? 'error') ?? 0) + 1);
        out(`\n${rows.length} mail${rows.length === 1 ? '' : 's'}: ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'none found'}`);
      }
      const unread = rows.filter((r) => r.error);
      if (unread.length) {
        for (const r of unread) err(`mailroom: could not read ${inline(r.source)}: ${inline(r.error)}`);
        process.exitCode = EXIT.failed;
      }
    });
}
