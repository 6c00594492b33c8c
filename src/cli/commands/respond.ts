// `mailroom respond resend <job id> | --issue KEY --to ADDRESS (--comment ID | --ack)`: mail one
// customer mail again by hand (issue 26). The logic lives in src/respond/resend.ts.
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { ISSUE_KEY } from '../../notify/events.js';
import { createAuditTrail } from '../../queues/audit.js';
import { respond } from '../../queues/catalog.js';
import { openQueue } from '../../queues/queue.js';
import { findResend, queueResend, ResendRefused, type ResendTarget } from '../../respond/resend.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, inline, out, printJson } from '../output.js';
import { reachRedis } from '../redis-reach.js';

const EMAIL = /^[^\s@]+@[^\s@]+$/;

const HELP = `
The mail is queued again under a new job id (<first job's id>|resend|<n>) and goes out as a
new message (a new Message-ID), even though the first was sent. The usual checks still hold:
a comment is mailed only while Jira says it is public, on an issue in the mailbox's project,
to an address that is still one of the issue's email-only participants; an acknowledgement
only while respond.acknowledge is on; and the resend counts towards
respond.maxPerRecipientPerHour (over it, the mail is skipped and the audit trail says so).
Only an address the first mail went to (or was refused by) can be named.

The job id is the one on the board (queue respond), in \`mailroom failed list\`, or in the outbox
record (respond:outcome:<job id>); it is kept for 30 days.

Exit codes: 0 queued, 1 no such job kept (or it never mailed that address), 2 bad arguments or
configuration, 3 Redis unreachable.

Examples:
  mailroom respond resend 'respond|comment|SUP-12|10042'
  mailroom respond resend 'respond|comment|SUP-12|10042' --to nora@customer.example
  mailroom respond resend --issue SUP-12 --to nora@customer.example --comment 10042
  mailroom respond resend --issue SUP-12 --to nora@customer.example --ack`;

interface Opts {
  issue?: string;
  to?: string;
  comment?: string;
  ack?: boolean;
  json?: boolean;
}

/** The arguments as a target, or a usage error saying what to fix. */
export function resendTarget(jobId: string | undefined, o: Opts, mailboxIds: () => string[]): ResendTarget {
  const to = o.to?.trim().toLowerCase();
  if (to !== undefined && !EMAIL.test(to)) throw new CliError(`--to "${o.to}" is not an email address such as nora@customer.example`, EXIT.usage);
  if (jobId !== undefined) {
    if (o.issue || o.comment || o.ack) throw new CliError('give either a job id or --issue with --comment/--ack, not both', EXIT.usage);
    const id = jobId.trim();
    if (!/^respond\|(acknowledge|comment)\|/.test(id) || id.length > 1000) {
      throw new CliError(`"${jobId}" is not a respond job id such as respond|comment|SUP-12|10042 (see the board's respond queue)`, EXIT.usage);
    }
    return { jobId: id, ...(to ? { to } : {}) };
  }
  if (!o.issue) throw new CliError('give a respond job id, or --issue KEY --to ADDRESS with --comment ID or --ack', EXIT.usage);
  const issueKey = o.issue.trim().toUpperCase();
  if (!ISSUE_KEY.test(issueKey)) throw new CliError(`--issue "${o.issue}" is not an issue key such as SUP-12`, EXIT.usage);
  if (!to) throw new CliError('--issue needs --to ADDRESS: the customer to mail again', EXIT.usage);
  if (!!o.comment === !!o.ack) throw new CliError('give exactly one of --comment ID or --ack', EXIT.usage);
  if (o.comment !== undefined) {
    if (!/^\d{1,18}$/.test(o.comment.trim())) throw new CliError(`--comment "${o.comment}" is not a Jira comment id (digits, e.g. 10042)`, EXIT.usage);
    return { issueKey, to, commentId: o.comment.trim() };
  }
  return { issueKey, to, ack: true, mailboxIds: mailboxIds() };
}

function who(): string {
  try {
    return userInfo().username || 'unknown user';
  } catch {
    return 'unknown user';
  }
}

export function register(program: Command, ctx: CliContext): void {
  const group = program
    .command('respond')
    .description('customer mails (acknowledgements, agents\' comments): resend one by hand')
    .addHelpText('after', `
Examples:
  mailroom respond resend 'respond|comment|SUP-12|10042'
  mailroom respond resend --issue SUP-12 --to nora@customer.example --ack`);
  group
    .command('resend [jobId]')
    .description('queue one customer mail again, by its respond job id or by issue, address and comment/--ack')
    .option('--issue <key>', 'the issue, e.g. SUP-12')
    .option('--to <address>', 'the customer address (with a job id: only this participant of a comment mail)')
    .option('--comment <id>', 'the agent\'s comment that was mailed')
    .option('--ack', 'the acknowledgement of the issue')
    .option('--json', 'print JSON')
    .addHelpText('after', HELP)
    .action(async (jobId: string | undefined, opts: Opts) => {
      // The arguments first: a typo is named before the configuration is even read.
      const target = resendTarget(jobId, opts, () => ctx.config().mailboxes.filter((m) => m.respond).map((m) => m.id));
      const config = ctx.config();
      const redis = await reachRedis(ctx);
      const queue = openQueue(respond, { connection: redis, prefix: config.prefix });
      try {
        const found = await findResend(redis, queue, config.prefix, target);
        const r = await queueResend({ redis, prefix: config.prefix, queue, audit: createAuditTrail({ redis, prefix: config.prefix }), who: who() }, found);
        if (opts.json) printJson({ jobId: r.jobId, of: r.of, kind: r.data.kind, issueKey: r.data.issueKey });
        else out(`queued ${inline(r.jobId)} (a copy of ${inline(r.of)}); \`mailroom audit <address>\` shows what it sent`);
      } catch (e) {
        if (e instanceof ResendRefused) throw new CliError(e.message, e.kind === 'usage' ? EXIT.usage : EXIT.failed);
        throw e;
      } finally {
        await queue.close();
      }
    });
}
