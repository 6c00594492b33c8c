// The poller as its role runs it (src/imap/role.ts): the readers and, beside them, the
// mailbox-actions station, started by the station layer; on a test's reader settings.
import type { RedisTarget } from '../../src/core/redis.js';
import type { Poller, PollerDeps } from '../../src/imap/poller.js';
import { readAndAct } from '../../src/imap/role.js';
import { createRoleContext } from '../../src/roles/runtime.js';
import { REDIS_TARGET } from './redis.js';

/** Readers and mailbox actions; stop() stops both (the station first) and closes the station's connections. */
export async function startPollerWithActions(deps: PollerDeps, target: RedisTarget = REDIS_TARGET): Promise<Poller> {
  // The station's connections go to the tests' Redis; the config object stays the readers' own
  // (a mailbox's OAuth token source is kept per config object, shared by readers and actions).
  const ctx = { ...createRoleContext({ ...deps.config, redis: target }, deps.logger), config: deps.config };
  const poller = await readAndAct(ctx, deps);
  return {
    readers: poller.readers,
    async stop() {
      await poller.stop();
      await ctx.closeAll();
    },
  };
}
