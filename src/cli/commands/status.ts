// `mailroom status`: what the queues hold right now, by state.
import type { Command } from 'commander';
import { allQueueStatus, closeQueues, JOB_STATES, openQueues } from '../../ops/queues.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, out, printJson, table } from '../output.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('show every queue with its job counts by state')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Exit code: 0 when shown, 2 bad configuration, 3 Redis unreachable.
Failed jobs are kept until removed: see \`mailroom failed list\`.

Examples:
  mailroom status
  mailroom status --json | jq '.queues[] | select(.counts.failed > 0)'`,
    )
    .action(async (opts: { json?: boolean }) => {
      const config = ctx.config();
      const redis = ctx.redis();
      // ioredis reports each failed reconnect as an 'error' event; the PING below says it once.
      if (!redis.listenerCount('error')) redis.on('error', () => undefined);
      try {
        await Promise.race([
          redis.ping(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref()),
        ]);
      } catch (e) {
        throw new CliError(`cannot reach Redis: ${(e as Error).message}`, EXIT.unavailable);
      }
      const queues = openQueues({ connection: redis, prefix: config.prefix });
      try {
        const status = await allQueueStatus(queues);
        if (opts.json) {
          printJson({ prefix: config.prefix, queues: status });
          return;
        }
        out(
          table(
            ['QUEUE', ...JOB_STATES.map((s) => s.toUpperCase()), 'PAUSED'],
            status.map((s) => [s.queue, ...JOB_STATES.map((st) => s.counts[st]), s.paused ? 'yes' : '']),
          ),
        );
      } finally {
        await closeQueues(queues);
      }
    });
}
