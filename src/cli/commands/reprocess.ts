// `mailroom reprocess --message-id ID | --file X.eml`: run the whole pipeline again for one
// mail (look-ups, accounts, delivery), with the pipeline's idempotency intact: no second
// account, no second issue. The logic lives in src/ops/reprocess.ts.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { createMailStore } from '../../mail/store.js';
import { reprocessMail, ReprocessRefused, type ReprocessResult } from '../../ops/reprocess.js';
import { siteHost } from '../../jira/site.js';
import type { CliContext } from '../context.js';
import { ownMailOptions } from '../../mail/loop.js';
import { reachRedis } from '../redis-reach.js';
import { isPlain, shellWord } from '../../core/terminal-text.js';
import { CliError, EXIT, inline, out, printJson } from '../output.js';

const HELP = `
The mail's old mail-inbound and jira-deliver jobs are removed and a fresh mail-inbound job is
added with the mail's original origin, so every step runs again. Accounts are looked up before
they are created, and delivery checks its ledger and the issue property first: a mail delivered
before ends up on the same issue ("duplicate" in its audit trail), a mail whose delivery failed
is delivered now. Failed account creations for the mail's people are retried too.
A mail still in the pipeline (active, waiting, delayed) is left alone.

Exit codes: 0 queued again, 1 not found or still in the pipeline, 2 bad arguments or
configuration, 3 Redis unreachable.

Examples:
  mailroom reprocess --message-id '<CAF=abc123@mail.gmail.com>'
  mailroom reprocess --message-id abc123@mail.gmail.com --mailbox support --json
  mailroom reprocess --file saved/complaint.eml --mailbox helpdesk
  mailroom audit '<CAF=abc123@mail.gmail.com>'     (then: what the new run did)`;

interface Opts {
  messageId?: string;
  file?: string;
  mailbox?: string;
  json?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('reprocess')
    .description('run the whole pipeline again for one mail (found by Message-ID, or read from a file)')
    .option('--message-id <id>', "the mail's Message-ID, with or without <>")
    .option('--file <path>', 'a raw mail (.eml): stored, parsed and run through the pipeline')
    .option('-m, --mailbox <id>', 'the mailbox the mail belongs to (needed when it reached several, or for --file with several mailboxes)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', HELP)
    .action(async (opts: Opts) => {
      if (!!opts.messageId === !!opts.file) throw new CliError('give exactly one of --message-id ID or --file X.eml');
      const config = ctx.config();
      let raw: Buffer | undefined;
      if (opts.file) {
        try {
          raw = await readFile(opts.file);
        } catch (e) {
          throw new CliError(`cannot read ${opts.file}: ${(e as Error).message}`);
        }
      }
      const redis = await reachRedis(ctx);
      let result: ReprocessResult;
      try {
        result = await reprocessMail(
          {
            redis,
            prefix: config.prefix,
            mailboxIds: config.mailboxes.map((m) => m.id),
            site: siteHost(config.jira.site),
            store: createMailStore(config, () => ctx.redis()),
            retry: config.queues,
            parse: ownMailOptions(config.smtp),
          },
          raw ? { raw, name: basename(opts.file!), mailboxId: opts.mailbox } : { messageId: opts.messageId!, mailboxId: opts.mailbox },
        );
      } catch (e) {
        if (e instanceof ReprocessRefused) throw new CliError(e.message, e.kind === 'usage' || e.kind === 'ambiguous' ? EXIT.usage : EXIT.failed);
        throw e;
      }
      if (opts.json) {
        printJson(result);
        return;
      }
      // The mail's Message-ID is the sender's text: one line each, and a command to paste only
      // with a shell word that stands for it exactly (else the job id, which is ours).
      out(`queued again: ${inline(result.mail)} (mailbox ${result.mailboxId}) as mail-inbound/${inline(result.jobId)}`);
      if (result.removed.length) out(`removed:      ${result.removed.map((r) => inline(r)).join(', ')}`);
      if (result.retriedProvision.length) out(`retrying:     ${result.retriedProvision.map((r) => inline(r)).join(', ')}`);
      if (result.deliveredBefore) out(`delivered before as ${inline(result.deliveredBefore)}: the new run adopts it, nothing is created twice`);
      if (isPlain(result.mail)) out(`follow it with: mailroom audit ${shellWord(result.mail)}`);
      else {
        out('its Message-ID holds characters not shown as written above: follow it by its job id');
        out(`follow it with: mailroom audit ${shellWord(result.jobId)}`);
      }
    });
}
