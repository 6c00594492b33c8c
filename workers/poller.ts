// The poller role: reads the configured IMAP mailboxes into mail-inbound jobs, and performs
// the mailbox actions (move, flag) once mail is finished downstream. See src/imap/.
import { startPoller } from '../src/imap/poller.js';
import { createMailStore } from '../src/mail/store.js';
import { runRoles } from '../src/runtime.js';

await runRoles('poller', [
  async (ctx) => {
    const redis = ctx.redis('poller');
    return startPoller({
      config: ctx.config,
      redis,
      workerRedis: ctx.redis('poller-actions'),
      store: createMailStore(ctx.config, redis),
      logger: ctx.logger,
    });
  },
]);
