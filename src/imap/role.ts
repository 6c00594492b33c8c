// The poller role: reads the configured IMAP mailboxes into mail-inbound jobs, and performs
// the mailbox actions (move, flag) once mail is finished downstream.
import { requireSecrets } from '../config/load.js';
import { DEFAULT_STORE_RETENTION, MAIL_QUEUES, startStorePruner } from '../mail/retention.js';
import { createMailStore } from '../mail/store.js';
import { queueNamed } from '../queues/queue.js';
import type { RoleContext, RoleStarter } from '../queues/role.js';
import { stationRole } from '../station/station.js';
import { mailboxActionsStation } from './actions.js';
import { startPoller, type Poller, type PollerDeps } from './poller.js';

export function pollerRole(): RoleStarter {
  return async (ctx) => {
    // The IMAP passwords are this role's secrets: refused here, not by every process.
    requireSecrets(ctx.config, 'poller');
    const redis = ctx.redis('poller');
    const store = createMailStore(ctx.config, redis);
    const poller = await readAndAct(ctx, { config: ctx.config, redis, store, logger: ctx.logger });
    // The role that writes raw mail also prunes it (src/mail/retention.ts).
    const queues = MAIL_QUEUES.map((name) => queueNamed(name, redis, ctx.config.prefix));
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

/**
 * The poller's two halves: the readers (poller.ts: a session per mailbox, its lock, its
 * cursor) and the mailbox-actions station (actions.ts), run by the station layer like every
 * other worker. Stopping, the station goes first: its worker finishes the actions in hand and
 * its IMAP connections log out; then the readers finish their mail and log out.
 */
export async function readAndAct(ctx: RoleContext, deps: PollerDeps): Promise<Poller> {
  const actions = await stationRole('poller', [mailboxActionsStation()])(ctx);
  let poller: Poller;
  try {
    poller = startPoller(deps);
  } catch (e) {
    await actions.stop();
    throw e;
  }
  return {
    readers: poller.readers,
    async stop() {
      // The readers stop even if the actions' stop fails: they hold the mailboxes' locks.
      try {
        await actions.stop();
      } finally {
        await poller.stop();
      }
    },
  };
}
