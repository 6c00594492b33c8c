// `mailroom notify --issue KEY --event NAME [--group G]... [--user EMAIL]...`: queue a
// notification by hand or from a script, the same way the Jira webhook does. Without --group
// and --user, the configured notifications.rules for the issue's project and event decide.
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { enqueueNotification } from '../../notify/enqueue.js';
import { isNotifyEvent, ISSUE_KEY, projectOfIssueKey, recipientsFor, safeId, unknownEventMessage } from '../../notify/events.js';
import { notify } from '../../queues/catalog.js';
import { openQueue } from '../../queues/queue.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, out, printJson } from '../output.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const EMAIL = /^[^\s@]+@[^\s@]+$/;

interface NotifyOptions {
  issue: string;
  event: string;
  group: string[];
  user: string[];
  eventId?: string;
  summary?: string;
  json?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('notify')
    .description('queue a notification mail about a Jira issue to user groups and users')
    .requiredOption('--issue <key>', 'the Jira issue key, e.g. SUP-12')
    .requiredOption('--event <name>', 'issue_created, issue_updated or comment_created')
    .option('--group <name>', 'a Jira group (name or groupId) whose members receive it; repeatable', collect, [])
    .option('--user <email>', 'an address that receives it; repeatable', collect, [])
    .option('--event-id <id>', 'an id for this event: the same id twice notifies once (default: a new id per run)')
    .option('--summary <text>', 'the issue summary, shown in the subject')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Without --group and --user, the notifications.rules of the configuration for the issue's
project and the event name the recipients. The notifier role expands the groups through the
workaround token and sends the mail.

Exit code: 0 queued (or already queued with this --event-id), 2 bad arguments or no recipients,
3 Redis unreachable.

Examples:
  mailroom notify --issue SUP-12 --event issue_created
  mailroom notify --issue SUP-12 --event comment_created --group support-agents --user lead@acme.example`,
    )
    .action(async (opts: NotifyOptions) => {
      const issueKey = opts.issue.trim().toUpperCase();
      if (!ISSUE_KEY.test(issueKey)) throw new CliError(`--issue "${opts.issue}" is not an issue key such as SUP-12`, EXIT.usage);
      if (!isNotifyEvent(opts.event)) throw new CliError(unknownEventMessage(opts.event), EXIT.usage);
      const event = opts.event;
      const bad = opts.user.find((u) => !EMAIL.test(u.trim()));
      if (bad !== undefined) throw new CliError(`--user "${bad}" is not an email address`, EXIT.usage);
      const config = ctx.config();
      let groups = opts.group.map((g) => g.trim()).filter(Boolean);
      let users = opts.user.map((u) => u.trim().toLowerCase());
      const project = projectOfIssueKey(issueKey)!;
      if (!groups.length && !users.length) {
        ({ groups, users } = recipientsFor(config.notifications?.rules ?? [], project, event));
        if (!groups.length && !users.length) {
          throw new CliError(`no recipients: give --group or --user, or add a notifications rule for project ${project} and event ${event}`, EXIT.usage);
        }
      }
      const eventId = opts.eventId
        ? safeId(`cli-${opts.eventId}`)
        : safeId(`cli-${issueKey}-${event}-${Date.now()}-${randomBytes(4).toString('hex')}`);
      const queue = openQueue(notify, { connection: ctx.redis(), prefix: config.prefix });
      try {
        const r = await enqueueNotification(queue, { issueKey, event, groups, users, eventId, ...(opts.summary ? { summary: opts.summary.slice(0, 500) } : {}) }, config.queues);
        if (opts.json) printJson({ ...r, issueKey, event, groups, users });
        else if (r.created) out(`queued ${r.jobId}: ${event} on ${issueKey} to ${describe(groups, 'group')}${groups.length && users.length ? ' and ' : ''}${describe(users, 'user')}`);
        else out(`already queued: ${r.jobId} (same --event-id)`);
      } finally {
        await queue.close();
      }
    });
}

function describe(list: string[], what: string): string {
  if (!list.length) return '';
  return `${list.length} ${what}${list.length === 1 ? '' : 's'} (${list.join(', ')})`;
}
