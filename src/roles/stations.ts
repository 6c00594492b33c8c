// The roles that run stations (src/station/station.ts): which stations each process role runs.
// The poller role (src/imap/role.ts) runs its readers and, beside them, the mailbox-actions
// station; the web role (src/web/role.ts) runs no worker.
import { requireSecrets, type Config } from '../config/load.js';
import { withRole } from '../core/log.js';
import { delivererStation, type DelivererStationOptions } from '../deliver/deliverer.js';
import { provisionerStation } from '../identity/provisioner.js';
import { resolverStation } from '../identity/resolver.js';
import { notifierStation } from '../notify/notifier.js';
import type { RoleStarter } from '../queues/role.js';
import { responderStation } from '../respond/responder.js';
import { stationRole, type StationOptions } from '../station/station.js';

export const resolverRole = (o?: StationOptions): RoleStarter => stationRole('resolver', [resolverStation()], o);
export const provisionerRole = (o?: StationOptions): RoleStarter => stationRole('provisioner', [provisionerStation()], o);
export const delivererRole = (o?: DelivererStationOptions): RoleStarter => stationRole('deliverer', [delivererStation(o)], o);

/** What must hold before the notifier can start; an empty list when it can. */
export function notifierConfigProblems(config: Pick<Config, 'smtp' | 'notifications'>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (!config.smtp) problems.push({ path: 'smtp', message: 'the notifier needs an smtp section (host, port, from)' });
  return problems;
}

/** The notifier role: group notifications (notify) and mail to customers (respond), on one SMTP pool. */
export function notifierRole(o: StationOptions = {}): RoleStarter {
  const role = stationRole('notifier', [notifierStation(), responderStation()], o);
  return async (ctx) => {
    const logger = withRole(ctx.logger, 'notifier');
    const problems = notifierConfigProblems(ctx.config);
    if (problems.length) {
      // An install that only reads mail has no smtp section. Exiting would take a Procfile
      // stack down and a restart policy would loop it: idle, and say so once, the same in
      // the Procfile, `mailroom start` and docker-compose.
      logger.warn(
        { idle: true, problems },
        `notifier idle: no smtp section in the configuration, nothing will be sent (add smtp: host, port, from to send notifications)`,
      );
      return { stop: async () => undefined };
    }
    requireSecrets(ctx.config, 'notifier');
    return role(ctx);
  };
}
