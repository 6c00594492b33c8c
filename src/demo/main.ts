// `npm run demo`: the whole pipeline on an embedded default, with only Redis available.
// Prints what happened and the Bull Board URL, then keeps running until Ctrl-C
// (`--once` exits after the report, for scripts and tests).
import { createServer } from 'node:net';
import { describeError } from '../core/errors.js';
import { table } from '../cli/output.js';
import { demoRedis, NoRedisForDemoError, type DemoRedis } from './redis.js';
import { runDemo, type DemoReport } from './run.js';

const once = process.argv.includes('--once');
const write = (s = '') => process.stdout.write(s + '\n');

async function freePort(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => {
      const t = createServer();
      t.listen(0, '127.0.0.1', () => {
        const port = (t.address() as { port: number }).port;
        t.close(() => resolve(port));
      });
    });
    s.listen(preferred, '127.0.0.1', () => s.close(() => resolve(preferred)));
  });
}

function print(r: DemoReport): void {
  write('\nMailroom demo: 8 sample mails into the "support" mailbox (policy: auto-create Jira users into support-customers; deny example.org)\n');
  write(
    table(
      ['MAIL', 'KIND', 'FROM', 'PEOPLE', 'JIRA'],
      r.mails.map((m) => [
        m.file,
        m.kind,
        m.from ?? '',
        m.people.map((p) => `${p.email} ${p.status}${p.reason && p.status !== 'known' ? ` (${p.reason})` : ''}`).join('; ') || '-',
        m.jira ?? (m.problem ? `FAILED: ${m.problem}` : '-'),
      ]),
    ),
  );
  write(`\nAccounts created in Jira (${r.accountsCreated.length}):`);
  for (const a of r.accountsCreated) write(`  ${a.email}  "${a.displayName}"  ${a.accountType}  groups: ${a.groups.join(', ') || '-'}`);
  write(`\nIssues (${r.issues.length}):`);
  for (const i of r.issues) {
    write(`  ${i.key}  ${i.summary}  reporter ${i.reporter ?? '?'}  comments ${i.comments}${i.attachments.length ? `  attachments ${i.attachments.join(', ')}` : ''}`);
  }
  printCustomerMails(r);
  if (!r.settled) write('\nThe pipeline had not settled when the report was taken: some mail is still retrying (see the board).');
  write(`\nJira simulator: ${r.jiraUrl}    Bull Board: ${r.boardUrl}`);
}

function printCustomerMails(r: DemoReport): void {
  const { agent } = r;
  write(`\nMail to customers ("support" has a respond section), as a local SMTP sink (${r.smtpSink}) received it.`);
  write('Each new issue\'s verified sender gets an acknowledgement with its key.');
  if (agent) {
    write(`Then ${agent.agent} answered ${agent.issueKey} in Jira with a public comment and an internal note (restricted to ${agent.internalRole}):`);
    write(`${agent.customers.join(', ')} has no Jira account, so Jira never mails them; Mailroom mails them the public comment only.`);
  }
  const kinds: Record<string, string> = { acknowledge: 'acknowledgement', comment: 'agent reply' };
  write(table(['KIND', 'FROM', 'TO', 'SUBJECT', 'IN-REPLY-TO'], r.customerMails.map((m) => [kinds[m.kind] ?? m.kind, m.from, m.to, m.subject, m.inReplyTo || '-'])));
  if (agent) write(`Internal note on ${agent.issueKey}: not mailed (${agent.internalOutcome}).`);
}

let redis: DemoRedis | undefined;
try {
  redis = await demoRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  if (redis.note) write(redis.note);
  const demo = await runDemo({
    redisUrl: redis.url,
    prefix: process.env.MAILROOM_PREFIX ?? '{mailroom-demo}',
    webPort: await freePort(3000),
    logLevel: process.env.MAILROOM_LOG_LEVEL ?? 'warn',
    timeoutMs: 60_000,
  });
  print(demo.report);
  if (once) {
    await demo.stop();
    await redis.stop();
    process.exit(demo.report.settled ? 0 : 1);
  }
  const env = `MAILROOM_PREFIX={mailroom-demo}${redis.note ? ` REDIS_URL=${redis.url}` : ''}`;
  write(`Running until Ctrl-C: feed more mail with \`mailroom ingest FILE\` (${env}).`);
  const own = redis;
  const stop = async () => {
    await demo.stop();
    await own.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
} catch (e) {
  await redis?.stop().catch(() => undefined);
  if (e instanceof NoRedisForDemoError) {
    process.stderr.write(`mailroom demo: ${e.message}\n`);
    process.exit(3); // the README's code for "Redis is not there"
  }
  process.stderr.write(`mailroom demo: ${describeError(e)}\n`);
  process.exit(1);
}
