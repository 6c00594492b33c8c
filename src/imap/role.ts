// The poller role: reads the configured IMAP mailboxes into mail-inbound jobs, and performs
// the mailbox actions (move, flag) once mail is finished downstream.
import { requireSecrets } from '../config/load.js';
import { Queue } from 'bullmq';
import { queueConnection } from '../core/redis.js';
import { DEFAULT_STORE_RETENTION, MAIL_QUEUES, startStorePruner } from '../mail/retention.js';
import { createMailStore } from '../mail/store.js';
import type { RoleStarter } from '../queues/role.js';
import { startPoller } from './poller.js';

export function pollerRole(): RoleStarter {
  return async (ctx) => {
    // The IMAP passwords are this role's secrets: refused here, not by every process.
    requireSecrets(ctx.config, 'poller');
    const redis = ctx.redis('poller');
    const store = createMailStore(ctx.config, redis);
    const poller = await startPoller({
      config: ctx.config,
      redis,
      workerRedis: ctx.redis('poller-actions'),
      store,
      logger: ctx.logger,
    });
    // The role that writes raw mail also prunes it (src/mail/retention.ts).
    const queues = MAIL_QUEUES.map((name) => {
      const q = new Queue(name, { connection: queueConnection(redis), prefix: ctx.config.prefix });
      // Without a listener BullMQ prints every reconnect attempt as a stack trace on stderr;
      // the role's connection (watched by ctx.redisOutage) reports an outage once.
      q.on('error', () => undefined);
      return q;
    });
    const pruner = startStorePruner({ store, queues, redis, prefix: ctx.config.prefix, retention: ctx.config.store.retention ?? DEFAULT_STORE_RETENTION, logger: ctx.logger });
    return {
      ...poller,
      async stop() {
        await pruner.stop();
        await Promise.all(queues.map((q) => q.close()));
        await poller.stop();
      },
    };
  };
}
