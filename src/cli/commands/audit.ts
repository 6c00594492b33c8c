// `mailroom audit <email-or-message-id>`: what the pipeline did for a person or a mail, step by
// step (lookups, decisions, accounts created, groups joined, hand-over to delivery), with the
// token account each step ran as and what Jira answered.
import type { Command } from 'commander';
import { auditForms, auditSubjectOf, mailRef } from '../../mail/ref.js';
import { createAuditTrail, type AuditEvent, type AuditTrail } from '../../queues/audit.js';
import { jiraDeliver, mailInbound } from '../../queues/catalog.js';
import { openQueue } from '../../queues/queue.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, inline, out, printJson, table } from '../output.js';
import { reachRedis } from '../redis-reach.js';

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
    .description("show the pipeline's audit trail for an email address or a mail (exit 1 if there is none)")
    .argument('<email-or-mail>', 'a participant email (any case), or a mail by any of its ids: Message-ID (with or without <>), sha256:<hash>, its mail-inbound or jira-deliver job id')
    .option('--json', 'print the events as JSON')
    .option('--limit <n>', 'only the last n events', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new CliError(`--limit must be a positive whole number, not "${v}"`);
      return n;
    })
    .addHelpText(
      'after',
      '\nExamples:\n  mailroom audit ann@example.com\n  mailroom audit "<CAF=abc123@mail.gmail.com>" --json\n  mailroom audit support:1700000000:42   (a mail by its mail-inbound job id)\n  mailroom audit "deliver|support|<CAF=abc123@mail.gmail.com>"',
    )
    .action(async (subject: string, opts: { json?: boolean; limit?: number }) => {
      const trail = createAuditTrail({ redis: await reachRedis(ctx), prefix: ctx.config().prefix });
      const subjects = [...auditForms(subject), ...(await subjectsOfJob(ctx, subject))];
      const events = await readAll(trail, subjects, opts.limit);
      if (opts.json) printJson(events);
      else if (events.length === 0) out(`no audit trail for ${inline(subject)} (kept 30 days after the last event)`);
      else out(formatAudit(events));
      if (events.length === 0) process.exitCode = EXIT.failed;
    });
}

/** A mail named by one of its job ids: the subject its trail is kept under, read from the job while it exists. */
async function subjectsOfJob(ctx: CliContext, id: string): Promise<string[]> {
  const q = { connection: ctx.redis(), prefix: ctx.config().prefix };
  const read = async (queue: ReturnType<typeof openQueue>) => {
    try {
      return (await queue.getJob(id.trim()))?.data as unknown;
    } finally {
      await queue.close();
    }
  };
  const inbound = mailInbound.payload.safeParse(await read(openQueue(mailInbound, q)));
  const deliver = jiraDeliver.payload.safeParse(await read(openQueue(jiraDeliver, q)));
  return [inbound, deliver].flatMap((p) => (p.success ? [auditSubjectOf(mailRef(p.data))] : []));
}

/** Every form's events, each once, oldest first. */
async function readAll(trail: AuditTrail, subjects: string[], limit?: number): Promise<AuditEvent[]> {
  const seen = new Set<string>();
  const events: AuditEvent[] = [];
  for (const list of await Promise.all([...new Set(subjects)].map((s) => trail.read(s)))) {
    for (const e of list) {
      const k = JSON.stringify(e);
      if (seen.has(k)) continue;
      seen.add(k);
      events.push(e);
    }
  }
  events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return limit ? events.slice(-limit) : events;
}
