// `mailroom mailboxes`: each IMAP mailbox as its poller last reported it: state, owner, last
// sync, lag, the last error in words, and when a mailbox in backoff or parked tries again.
import type { Command } from 'commander';
import { readHeartbeats, requestWake } from '../../imap/heartbeat.js';
import type { CliContext } from '../context.js';
import { reachRedis } from '../redis-reach.js';
import { CliError, EXIT, inline, out, printJson, table } from '../output.js';
import { checkMailboxLogin } from '../../imap/login-check.js';
import { verifySmtpLogin } from '../../notify/mailer.js';
import { smtpTokenSource } from '../../oauth/tokens.js';
import { describeError } from '../../core/errors.js';

export function register(program: Command, ctx: CliContext): void {
  const mailboxes = program
    .command('mailboxes')
    .description('show each IMAP mailbox\'s poller state, last sync, lag and last error')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
States: connecting, syncing, idle (waiting for mail), backoff (retrying after an error),
parked (the server keeps refusing the password: fix it, then \`mailroom mailboxes retry ID\`), stopped.
A heartbeat older than 30 s means no poller serves the mailbox (STALE).
Exit code: 0 all served, 1 a mailbox is stale or parked, 2 bad configuration, 3 Redis unreachable.

Examples:
  mailroom mailboxes
  mailroom mailboxes --json | jq '.[] | select(.state == "parked")'
  mailroom mailboxes retry support`,
    )
    .action(async (opts: { json?: boolean }) => {
      const config = ctx.config();
      const ids = config.mailboxes.filter((m) => m.imap).map((m) => m.id);
      const rows = await readHeartbeats(await reachRedis(ctx), config.prefix, { mailboxIds: ids });
      process.exitCode = rows.some((r) => r.stale || r.state === 'parked') ? EXIT.failed : EXIT.ok;
      if (opts.json) {
        printJson(rows);
        return;
      }
      if (rows.length === 0) {
        out('no mailbox has imap settings: mail comes in with `mailroom ingest` only');
        return;
      }
      const now = Date.now();
      out(
        table(
          ['MAILBOX', 'STATE', 'OWNER', 'LAST SYNC', 'LAG', 'PENDING', 'UIDVALIDITY/UID', 'NEXT TRY', 'LAST ERROR'],
          rows.map((r) => [
            r.mailboxId,
            r.stale ? `${r.state} (STALE)` : r.state,
            r.owner ?? '',
            r.lastSyncAt ? ago(now, r.lastSyncAt) : 'never',
            r.lagMs === undefined ? '' : seconds(r.lagMs),
            r.pending,
            r.uidvalidity ? `${r.uidvalidity}/${r.lastUid ?? 0}` : '',
            (r.state === 'backoff' || r.state === 'parked') && r.nextAttemptAt ? inTime(now, r.nextAttemptAt) : '',
            r.lastError ?? '',
          ]),
        ),
      );
    });
  registerRetry(mailboxes, ctx);
  registerTest(mailboxes, ctx);
}

function registerRetry(mailboxes: Command, ctx: CliContext): void {
  mailboxes
    .command('retry')
    .description('wake a parked (or backing-off) mailbox: its poller tries to log in again now, not at NEXT TRY')
    .argument('<id>', 'the mailbox id, as in mailroom.yml')
    .addHelpText(
      'after',
      `
Fix the cause first: the password on the IMAP server, or the variable named by
mailboxes[].imap.passwordEnv (a changed variable needs a poller restart; with
MAILROOM_SECRET_KEY set the restarted poller tries a changed password at once, else run this
after the restart: a parking outlives restarts). The poller holding the mailbox takes the
request at its next heartbeat (within about 10 s); with none, the next to take it does (the
request lasts 10 minutes). A password still refused parks the mailbox again after one try.
Exit code: 0 asked, 1 no poller serves the mailbox, 2 unknown mailbox, 3 Redis unreachable.

Examples:
  mailroom mailboxes retry support
  mailroom mailboxes retry support && sleep 15 && mailroom mailboxes`,
    )
    .action(async (id: string) => {
      const config = ctx.config();
      const ids = config.mailboxes.filter((m) => m.imap).map((m) => m.id);
      if (!ids.includes(id)) {
        throw new CliError(`no mailbox "${id}" with imap settings in ${config.source}: use one of ${ids.join(', ') || '(none)'}`);
      }
      const redis = await reachRedis(ctx);
      const [hb] = await readHeartbeats(redis, config.prefix, { mailboxIds: [id] });
      if (!hb || hb.stale) {
        // A poller that takes a parked mailbox waits for its next attempt: the request is for it.
        await requestWake(redis, config.prefix, id);
        out(`no poller serves ${id} now: start one; asked it to try at once when it takes the mailbox (the request lasts 10 minutes)`);
        process.exitCode = EXIT.failed;
        return;
      }
      if (hb.state !== 'parked' && hb.state !== 'backoff') {
        out(`${id} is ${hb.state}, not parked or backing off: nothing to wake`);
        return;
      }
      await requestWake(redis, config.prefix, id);
      out(`asked the poller of ${id} (${hb.owner ?? 'unknown'}) to try again now; it was ${hb.state}: ${inline(hb.lastError)}`.trimEnd());
      out('check with: mailroom mailboxes');
    });
}

function registerTest(mailboxes: Command, ctx: CliContext): void {
  mailboxes
    .command('test <id>')
    .description('obtain the mailbox\'s OAuth token (or read its password), log in to IMAP and look at the folder; --smtp also logs in to SMTP')
    .option('--smtp', 'also log in to the SMTP server of the notifier (smtp section), without sending')
    .addHelpText(
      'after',
      `
Nothing is read, moved or sent. Exit code: 0 every step worked, 1 a step failed (the line says
what to grant or fix), 2 bad configuration.

Examples:
  mailroom mailboxes test support
  mailroom mailboxes test support --smtp`,
    )
    .action(async (id: string, opts: { smtp?: boolean }) => {
      const config = ctx.config();
      // A rotating refresh token is read from, and its successor written to, Redis: the poller's chain stays intact.
      const imapAuth = config.mailboxes.find((m) => m.id === id)?.imap?.auth;
      const redis = imapAuth?.provider === 'oauth2' && imapAuth.refreshTokenEnv ? await reachRedis(ctx) : undefined;
      const steps = await checkMailboxLogin(config, id, redis ? { redis } : {});
      if (opts.smtp) {
        const absent = config.missingSecrets.find((m) => m.role === 'notifier' && m.path.startsWith('smtp.'));
        if (!config.smtp) steps.push({ ok: false, what: 'no smtp section in the configuration' });
        else if (absent) steps.push({ ok: false, what: `${absent.path}: ${absent.message}` });
        else {
          try {
            await verifySmtpLogin(config.smtp, config.secrets.smtpPassword, smtpTokenSource(config));
            steps.push({ ok: true, what: `logged in to SMTP ${config.smtp.host}:${config.smtp.port}${config.smtp.user ? ` as ${config.smtp.user}` : ''}${config.smtp.auth ? ' with OAuth' : ''}` });
          } catch (e) {
            steps.push({ ok: false, what: `SMTP ${config.smtp.host}:${config.smtp.port}: ${describeError(e)}` });
          }
        }
      }
      for (const s of steps) out(`${s.ok ? 'ok  ' : 'FAIL'}  ${s.what}`);
      process.exitCode = steps.every((s) => s.ok) ? EXIT.ok : EXIT.failed;
    });
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function ago(now: number, iso: string): string {
  return `${seconds(Math.max(0, now - Date.parse(iso)))} ago`;
}

function inTime(now: number, iso: string): string {
  return `in ${seconds(Math.max(0, Date.parse(iso) - now))}`;
}
