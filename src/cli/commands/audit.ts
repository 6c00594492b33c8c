// `mailroom audit <email-or-message-id>`: what the pipeline did for a person or a mail, step by
// step (lookups, decisions, accounts created, groups joined, hand-over to delivery), with the
// token account each step ran as and what Jira answered.
import type { Command } from 'commander';
import { createAuditTrail, type AuditEvent } from '../../queues/audit.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, out, printJson, table } from '../output.js';

export function formatAudit(events: AuditEvent[]): string {
  return table(
    ['when', 'step', 'outcome', 'email', 'mail', 'as', 'jira / detail'],
    events.map((e) => [
      e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      e.step,
      e.outcome,
      e.email,
      e.mail,
      e.tokenAccount,
      [e.jira, e.detail].filter(Boolean).join(' | '),
    ]),
  );
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('audit')
    .description("show the pipeline's audit trail for an email address or a Message-ID (exit 1 if there is none)")
    .argument('<email-or-message-id>', 'a participant email (any case) or a Message-ID, with or without <>')
    .option('--json', 'print the events as JSON')
    .option('--limit <n>', 'only the last n events', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new CliError(`--limit must be a positive whole number, not "${v}"`);
      return n;
    })
    .addHelpText(
      'after',
      '\nExamples:\n  mailroom audit ann@example.com\n  mailroom audit "<CAF=abc123@mail.gmail.com>" --json\n  mailroom audit support:1700000000:42   (a mail without Message-ID, by its job id)',
    )
    .action(async (subject: string, opts: { json?: boolean; limit?: number }) => {
      const trail = createAuditTrail({ redis: ctx.redis(), prefix: ctx.config().prefix });
      const events = await trail.read(subject, opts.limit ? { limit: opts.limit } : {});
      if (opts.json) printJson(events);
      else if (events.length === 0) out(`no audit trail for ${subject} (kept 30 days after the last event)`);
      else out(formatAudit(events));
      if (events.length === 0) process.exitCode = EXIT.failed;
    });
}
