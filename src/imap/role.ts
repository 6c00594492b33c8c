// The poller role: reads the configured IMAP mailboxes into mail-inbound jobs, and performs
// the mailbox actions (move, flag) once mail is finished downstream.
import { requireSecrets } from '../config/load.js';
import { createMailStore } from '../mail/store.js';
import type { RoleStarter } from '../runtime.js';
import { startPoller } from './poller.js';

export function pollerRole(): RoleStarter {
  return async (ctx) => {
    // The IMAP passwords are this role's secrets: refused here, not by every process.
    requireSecrets(ctx.config, 'poller');
    const redis = ctx.redis('poller');
    return startPoller({
      config: ctx.config,
      redis,
      workerRedis: ctx.redis('poller-actions'),
      store: createMailStore(ctx.config, redis),
      logger: ctx.logger,
    });
  };
}
