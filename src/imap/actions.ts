// The mailbox action after a mail reached a terminal state downstream: move it to a folder
// (created when missing), set a flag or keyword, or nothing. Until such a job arrives the mail
// stays where it was, so a mail lost from Redis is read again. Any poller process may run
// these jobs: they address the message by UIDVALIDITY and UID, and each action is idempotent.
// Its station (at the end of this file) runs in the poller role, beside the readers.
import type { ImapFlow } from 'imapflow';
import type { Config } from '../config/load.js';
import type { MailboxConfig } from '../config/schema.js';
import { PermanentError, RetryableError, describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import { mailboxActions } from '../queues/catalog.js';
import { defineStation, type Station } from '../station/station.js';
import { imapClient } from './connect.js';
import { imapTokenSource } from '../oauth/tokens.js';
import { classifyImapFailure } from './failure.js';

export type AfterAction = MailboxConfig['after'];
export type ActionOutcome = 'moved' | 'flagged' | 'none' | 'uidvalidity-changed' | 'not-found';

/** Apply `after` to one message; the client is connected and no other lock holder uses it. */
export async function applyAction(client: ImapFlow, folder: string, after: AfterAction, uidvalidity: string, uid: number): Promise<ActionOutcome> {
  if (after.action === 'none') return 'none';
  const lock = await client.getMailboxLock(folder);
  try {
    const mailbox = client.mailbox;
    if (!mailbox) throw new RetryableError(`folder ${folder} is not selected`);
    // A new UIDVALIDITY means the UID names another message, or none: act on nothing. The
    // poller reads the rebuilt mailbox again, and the mail comes back with its new UID.
    if (String(mailbox.uidValidity) !== uidvalidity) return 'uidvalidity-changed';
    // A session that had the folder selected already may not see mail that arrived since
    // (Dovecot answers SEARCH from its current view): NOOP syncs it first.
    await client.noop();
    const found = await client.search({ uid: String(uid) }, { uid: true });
    if (!found || found.length === 0) return 'not-found'; // moved or deleted already
    if (after.action === 'flag') {
      if (!(await client.messageFlagsAdd(String(uid), [after.flag], { uid: true }))) {
        throw new RetryableError(`could not set ${after.flag} on UID ${uid} in ${folder}`);
      }
      return 'flagged';
    }
    let moved = await client.messageMove(String(uid), after.folder, { uid: true });
    if (!moved) {
      // Most likely the target does not exist yet ([TRYCREATE]): create it, then try again.
      await client.mailboxCreate(after.folder);
      moved = await client.messageMove(String(uid), after.folder, { uid: true });
    }
    if (!moved) throw new RetryableError(`could not move UID ${uid} from ${folder} to ${after.folder}`);
    return 'moved';
  } finally {
    lock.release();
  }
}

type Connections = ReturnType<typeof actionConnections>;

/**
 * One IMAP connection per mailbox, opened when a job needs it and closed after a quiet minute;
 * jobs for one mailbox take turns on it.
 */
function actionConnections(config: Config, redis: Redis, log: Logger) {
  const clients = new Map<string, { client: ImapFlow; ready: Promise<void>; queue: Promise<unknown>; timer?: NodeJS.Timeout }>();

  const drop = (id: string) => {
    const entry = clients.get(id);
    if (!entry) return;
    clients.delete(id);
    if (entry.timer) clearTimeout(entry.timer);
    entry.client.logout().catch(() => entry.client.close());
  };

  async function withClient<T>(mailbox: MailboxConfig, fn: (c: ImapFlow) => Promise<T>): Promise<T> {
    const imap = mailbox.imap!;
    let entry = clients.get(mailbox.id);
    // A connection still connecting is not usable yet, but it is not closed: jobs queue on it.
    if (!entry || entry.client.isClosed) {
      if (entry) drop(mailbox.id);
      const tokens = imapTokenSource(config, mailbox.id, { logger: log, redis });
      const secret = tokens ? { accessToken: await tokens.get() } : (config.secrets.imapPasswords[mailbox.id] ?? '');
      // Another job of this mailbox may have opened a connection while the token was fetched.
      const opened = clients.get(mailbox.id);
      if (opened && !opened.client.isClosed) return withClient(mailbox, fn);
      const client = imapClient(imap, secret, log.child({ mailbox: mailbox.id }));
      client.on('error', (e: Error) => log.debug({ mailbox: mailbox.id, err: describeError(e) }, 'action connection error'));
      client.on('close', () => {
        if (clients.get(mailbox.id)?.client === client) drop(mailbox.id);
      });
      const ready = client.connect();
      ready.catch(() => undefined); // awaited by the job below, which reports it
      entry = { client, ready, queue: Promise.resolve() };
      clients.set(mailbox.id, entry);
    }
    const e = entry;
    const run = e.queue.then(async () => {
      await e.ready;
      if (!e.client.usable) throw new RetryableError(`IMAP connection for mailbox ${mailbox.id} is not usable`);
      return fn(e.client);
    });
    e.queue = run.catch(() => undefined);
    if (e.timer) clearTimeout(e.timer);
    // A quiet minute: let the connection go rather than hold a second session per mailbox.
    e.timer = setTimeout(() => drop(mailbox.id), 60_000);
    e.timer.unref();
    try {
      return await run;
    } catch (err) {
      drop(mailbox.id);
      throw err;
    }
  }

  return {
    withClient,
    closeAll(): void {
      for (const id of [...clients.keys()]) drop(id);
    },
  };
}

/** One mailbox-actions job: apply the mailbox's `after` to the message it names. */
async function runAction(
  config: Config,
  connections: Connections,
  data: { mailboxId: string; uidvalidity: string; uid: number },
  jobLog: Logger,
): Promise<{ outcome: ActionOutcome }> {
  const mailbox = config.mailboxes.find((m) => m.id === data.mailboxId);
  if (!mailbox) throw new PermanentError(`no mailbox "${data.mailboxId}" in the configuration`);
  if (!mailbox.imap) throw new PermanentError(`mailbox "${data.mailboxId}" has no imap settings: nothing to act on`);
  if (mailbox.after.action === 'none') return { outcome: 'none' };
  try {
    const outcome = await connections.withClient(mailbox, (c) => applyAction(c, mailbox.imap!.folder, mailbox.after, data.uidvalidity, data.uid));
    jobLog.info({ mailbox: mailbox.id, uid: data.uid, outcome }, 'mailbox action done');
    return { outcome };
  } catch (err) {
    if (err instanceof PermanentError || err instanceof RetryableError) throw err;
    const imap = mailbox.imap;
    const f = classifyImapFailure(err, { host: imap.host, port: imap.port, user: imap.user, folder: imap.folder, oauth: imap.auth?.provider });
    if (f.kind === 'auth') imapTokenSource(config, mailbox.id)?.invalidate();
    // Every IMAP trouble here is worth retrying (a password gets fixed, a server comes
    // back); never an AuthError, which would pause the Jira token's queues.
    throw new RetryableError(`mailbox action on ${mailbox.id} UID ${data.uid} failed: ${f.message}`, { cause: err });
  }
}

// ---- The station: mailbox-actions, in the poller role, on IMAP (src/station/station.ts) ----

/**
 * No workaround token: the actions work on the mailboxes. prepare makes the pool of action
 * connections above (one per mailbox, opened when a job needs it; not the readers' sessions,
 * which the poller role owns); release logs them out once the worker has stopped, so no job
 * in hand loses its connection. The poller role (role.ts) stops this station before its readers.
 * Queue, job id, retries and concurrency (4) are the catalog's (queues/catalog.ts).
 */
export function mailboxActionsStation(): Station {
  return defineStation({
    queue: mailboxActions,
    needsToken: false,
    // The role (poller) is already bound to the logger; job lines get `queue` from the worker.
    prepare: async ({ ctx: { config }, redis, logger }) => actionConnections(config, redis, logger.child({ queue: mailboxActions.name })),
    process:
      ({ ctx: { config } }, connections) =>
      (data, { log }) =>
        runAction(config, connections, data, log),
    release: async (connections) => connections.closeAll(),
  });
}
