// `mailroom mailboxes`: each IMAP mailbox as its poller last reported it: state, owner, last
// sync, lag, the last error in words, and when a mailbox in backoff or parked tries again.
import type { Command } from 'commander';
import { readHeartbeats } from '../../imap/heartbeat.js';
import type { CliContext } from '../context.js';
import { reachRedis } from '../redis-reach.js';
import { EXIT, out, printJson, table } from '../output.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('mailboxes')
    .description('show each IMAP mailbox\'s poller state, last sync, lag and last error')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
States: connecting, syncing, idle (waiting for mail), backoff (retrying after an error),
parked (the server keeps refusing the password: fix it and restart the poller), stopped.
A heartbeat older than 30 s means no poller serves the mailbox (STALE).
Exit code: 0 all served, 1 a mailbox is stale or parked, 2 bad configuration, 3 Redis unreachable.

Examples:
  mailroom mailboxes
  mailroom mailboxes --json | jq '.[] | select(.state == "parked")'`,
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
