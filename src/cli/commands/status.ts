// `mailroom status`: what the queues hold right now, by state; each IMAP mailbox's poller
// heartbeat; the workaround token's state.
import type { Command } from 'commander';
import { allQueueStatus, closeQueues, JOB_STATES, openQueues } from '../../ops/queues.js';
import { heartbeatVerdict, imapMailboxIds, tokenVerdict } from '../../ops/health.js';
import { readHeartbeats } from '../../imap/heartbeat.js';
import { readTokenHealth } from '../../token/runtime.js';
import type { CliContext } from '../context.js';
import { reachRedis } from '../redis-reach.js';
import { storeStatus } from '../../ops/store-size.js';
import { EXIT, out, printJson, table } from '../output.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('show every queue with its job counts by state, the mailboxes\' heartbeats and the token state')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Exit code: 0 when all is well, 1 when the token is not usable (missing, refused, expired)
or a mailbox has no live poller, 2 bad configuration, 3 Redis unreachable.
Failed jobs are kept until removed: see \`mailroom failed list\`.

Examples:
  mailroom status
  mailroom status --json | jq '.queues[] | select(.counts.failed > 0)'`,
    )
    .action(async (opts: { json?: boolean }) => {
      const config = ctx.config();
      const redis = await reachRedis(ctx);
      const queues = openQueues({ connection: redis, prefix: config.prefix });
      try {
        const now = Date.now();
        const [status, heartbeats, token, store] = await Promise.all([
          allQueueStatus(queues),
          readHeartbeats(redis, config.prefix, { mailboxIds: imapMailboxIds(config), now }),
          readTokenHealth(redis, config.prefix),
          storeStatus(redis, config.prefix),
        ]);
        const mailboxes = heartbeats.map((h) => ({ ...h, verdict: heartbeatVerdict(h) }));
        const tokenState = tokenVerdict(token);
        const { gate: _gate, ...tokenShown } = token;
        process.exitCode = tokenState.ok && mailboxes.every((m) => m.verdict.ok) ? EXIT.ok : EXIT.failed;
        if (opts.json) {
          printJson({ prefix: config.prefix, queues: status, mailboxes, token: { ...tokenShown, verdict: tokenState }, store: store.size });
          return;
        }
        out(
          table(
            ['QUEUE', ...JOB_STATES.map((s) => s.toUpperCase()), 'PAUSED'],
            status.map((s) => [s.queue, ...JOB_STATES.map((st) => s.counts[st]), s.paused ? 'yes' : '']),
          ),
        );
        if (mailboxes.length) {
          out();
          out(
            table(
              ['MAILBOX', 'STATE', 'HEARTBEAT', 'LAST SYNC', 'PENDING', 'PROBLEM'],
              mailboxes.map((m) => [
                m.mailboxId,
                m.state,
                m.updatedAt ? `${Math.round((now - Date.parse(m.updatedAt)) / 1000)} s ago` : 'never',
                m.lastSyncAt ?? '',
                m.pending,
                m.verdict.ok ? (m.lastError ?? '') : m.verdict.detail,
              ]),
            ),
          );
        }
        out();
        out(store.line);
        out(`token: ${tokenState.ok ? 'ok' : 'NOT USABLE'}${tokenState.detail ? ` - ${tokenState.detail}` : ''}${token.expiresAt ? ` (expires ${token.expiresAt})` : ''}`);
      } finally {
        await closeQueues(queues);
      }
    });
}
