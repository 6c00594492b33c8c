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
import { MAX_IMAP_UID } from '../mail/ref.js';
import { mailboxActions } from '../queues/catalog.js';
import { defineStation, type Station } from '../station/station.js';
import type { ProcessorContext } from '../station/worker.js';
import { DEFAULT_STALE_AFTER_MS } from './heartbeat.js';
import { imapKeys } from './keys.js';
import { imapClient } from './connect.js';
import { imapTokenSource } from '../oauth/tokens.js';
import { classifyImapFailure } from './failure.js';

export type AfterAction = MailboxConfig['after'];
export type ActionOutcome = 'moved' | 'flagged' | 'none' | 'uidvalidity-changed' | 'not-found';

/** One message to act on: where the poller read it. */
export interface ActionTarget {
  uidvalidity: string;
  uid: number;
}

/**
 * Apply `after` to messages of one folder in three commands however many there are (NOOP, a UID
 * SEARCH, one STORE or MOVE over the UID set); the outcomes come back in the order asked. When
 * the server refuses the set, each message is tried alone, so one it will not take (a quota, a
 * size limit) fails only its own job: that job's entry is the error. The client is connected
 * and no other lock holder uses it.
 */
export async function applyActions(client: ImapFlow, folder: string, after: AfterAction, targets: ActionTarget[]): Promise<(ActionOutcome | RetryableError)[]> {
  if (after.action === 'none') return targets.map(() => 'none');
  const lock = await client.getMailboxLock(folder);
  try {
    const mailbox = client.mailbox;
    if (!mailbox) throw new RetryableError(`folder ${folder} is not selected`);
    // A new UIDVALIDITY means the UID names another message, or none: act on nothing. The
    // poller reads the rebuilt mailbox again, and the mail comes back with its new UID.
    const current = String(mailbox.uidValidity);
    // A UID no server can hold (IMAP UIDs are 32-bit, RFC 3501) names no message: a SEARCH naming
    // it is refused (BAD), which would fail every good job batched with it, turn after turn.
    const uids = [...new Set(targets.filter((t) => t.uidvalidity === current && isImapUid(t.uid)).map((t) => t.uid))];
    const found = new Set<number>();
    if (uids.length > 0) {
      // A session that had the folder selected already may not see mail that arrived since
      // (Dovecot answers SEARCH from its current view): NOOP syncs it first.
      await client.noop();
      const hits = await client.search({ uid: uids.join(',') }, { uid: true });
      // imapflow answers a refused SEARCH with false: that is not "none found" (which would
      // finish every job with nothing done).
      if (!Array.isArray(hits)) throw new RetryableError(`the server refused UID SEARCH in ${folder}`);
      for (const uid of hits) found.add(uid);
    }
    const present = uids.filter((u) => found.has(u));
    const refused = await actOn(client, after, present);
    const done: ActionOutcome = after.action === 'flag' ? 'flagged' : 'moved';
    const what = after.action === 'flag' ? `set ${after.flag} on` : `move to ${after.folder}`;
    return targets.map((t) => {
      if (t.uidvalidity !== current) return 'uidvalidity-changed';
      // Not found: moved or deleted already (a retried job, or a person).
      if (!found.has(t.uid)) return 'not-found';
      return refused.has(t.uid) ? new RetryableError(`the server refused to ${what} UID ${t.uid} in ${folder}`) : done;
    });
  } finally {
    lock.release();
  }
}

const isImapUid = (uid: number) => Number.isInteger(uid) && uid >= 1 && uid <= MAX_IMAP_UID;

/** The STORE or MOVE over `uids` (a set, then one by one if the set is refused); the UIDs refused. */
async function actOn(client: ImapFlow, after: Exclude<AfterAction, { action: 'none' }>, uids: number[]): Promise<Set<number>> {
  const act =
    after.action === 'flag'
      ? (set: string) => client.messageFlagsAdd(set, [after.flag], { uid: true })
      : async (set: string) => {
          if (await client.messageMove(set, after.folder, { uid: true })) return true;
          // Most likely the target does not exist yet ([TRYCREATE]): create it, then try again. A
          // refused CREATE says nothing about this set: a server without [ALREADYEXISTS] (RFC 5530)
          // refuses to create a folder that is there, and its refusal failed the whole turn, so
          // one message the server would not move kept every other one of its batch in place.
          await client.mailboxCreate(after.folder).catch(() => undefined);
          return !!(await client.messageMove(set, after.folder, { uid: true }));
        };
  const refused = new Set<number>();
  if (uids.length === 0 || (await act(uids.join(',')))) return refused;
  // imapflow answers a MOVE cut off by a lost connection with false too: not a refusal.
  if (!client.usable) throw new RetryableError('the connection to the server was lost during the action');
  if (uids.length === 1) return refused.add(uids[0]!);
  for (const uid of uids) if (!(await act(String(uid)))) refused.add(uid);
  return refused;
}

/** Most UIDs one command names: a set of 100 stays far below any server's line limit. */
export const MAX_ACTION_BATCH = 100;

interface Waiting extends ActionTarget {
  done(o: ActionOutcome): void;
  failed(e: unknown): void;
}

/**
 * How long the first action asked for a mailbox waits for others before its turn: mail finishes
 * downstream one at a time, 20 ms apart in a burst of 50/s, and a turn is three IMAP commands
 * (NOOP, SEARCH, STORE or MOVE) however many it carries. Without the wait, 251 of 269 turns in
 * the new-sender burst carried one action (bench/new-senders.ts): three commands per mail on the
 * poller and Dovecot, off the path anyone waits on. Nobody waits on a mail's action.
 */
export const ACTION_GATHER_MS = 200;

/**
 * How long a job waits in hand for its mailbox's turn before giving its worker slot back
 * (parked, no attempt spent, back in ACTION_STUCK_PARK_MS). A turn is a login and three
 * commands: seconds at worst. A server that accepts the connection and then never answers (a
 * black hole, a hung proxy) holds a turn until imapflow's socket timeout, five minutes; the
 * station's 32 slots are shared by every mailbox, and one mailbox's jobs waiting out those five
 * minutes held all of them, so no other mailbox's mail was moved or flagged meanwhile. Once one
 * job of a mailbox gave up, the mailbox's next jobs are parked at once until a turn ends.
 */
export const ACTION_TURN_DUE_MS = 10_000;
export const ACTION_STUCK_PARK_MS = 30_000;

/** Its mailbox's turn is overdue: the job is parked (runAction), not failed. */
export class TurnOverdue extends Error {}

/**
 * The actions asked for one mailbox go out together: the first waits ACTION_GATHER_MS, jobs that
 * arrive meanwhile or while its connection is busy (or still logging in) wait with it, and the
 * turn on the connection takes all of them (up to MAX_ACTION_BATCH) in one applyActions. A burst
 * of 300 delivered mails was 900 IMAP commands, one after another on the mailbox's one
 * connection; a slow server's round trips made that minutes. A failed turn fails each job in it,
 * and BullMQ retries each on its own.
 */
type MailboxTurns = { waiting: Waiting[]; scheduled: boolean; stuck: boolean };

function actionBatcher(connections: Connections, gatherMs: number, dueMs = ACTION_TURN_DUE_MS) {
  const byMailbox = new Map<string, MailboxTurns>();

  function turn(mailbox: MailboxConfig, q: MailboxTurns, waitMs: number): void {
    q.scheduled = true;
    if (waitMs > 0) {
      setTimeout(() => turn(mailbox, q, 0), waitMs);
      return;
    }
    let batch: Waiting[] | undefined;
    connections
      .withClient(mailbox, (c) => {
        q.scheduled = false;
        batch = q.waiting.splice(0, MAX_ACTION_BATCH);
        // More than one set's worth waiting: the rest goes in the next turn, at once.
        if (q.waiting.length > 0) turn(mailbox, q, 0);
        // Everyone of this turn gave up waiting for it: nothing to do on the connection.
        return batch.length === 0 ? Promise.resolve([]) : applyActions(c, mailbox.imap!.folder, mailbox.after, batch);
      })
      .then(
        (outcomes) => batch!.forEach((w, i) => (outcomes[i] instanceof Error ? w.failed(outcomes[i]) : w.done(outcomes[i] as ActionOutcome))),
        (err: unknown) => {
          // The turn never came (no connection): everyone waiting for it fails with it.
          if (!batch) {
            q.scheduled = false;
            batch = q.waiting.splice(0);
          }
          for (const w of batch) w.failed(err);
        },
      )
      .finally(() => (q.stuck = false));
  }

  return (mailbox: MailboxConfig, target: ActionTarget): Promise<ActionOutcome> =>
    new Promise((done, failed) => {
      let q = byMailbox.get(mailbox.id);
      if (!q) byMailbox.set(mailbox.id, (q = { waiting: [], scheduled: false, stuck: false }));
      if (q.stuck) return failed(new TurnOverdue(`mailbox ${mailbox.id}: its server has not finished a turn in ${dueMs / 1000} s`));
      // Settled by its turn, or by giving up on it: then it leaves the queue (a batch in flight
      // that ends later changes nothing; the action is idempotent, and its job comes back).
      const due = setTimeout(() => {
        q.stuck = true;
        const at = q.waiting.indexOf(w);
        if (at >= 0) q.waiting.splice(at, 1);
        failed(new TurnOverdue(`mailbox ${mailbox.id}: its server has not finished a turn in ${dueMs / 1000} s`));
      }, dueMs);
      const settle = <A>(f: (a: A) => void) => (a: A) => (clearTimeout(due), f(a));
      const w: Waiting = { ...target, done: settle(done), failed: settle(failed) };
      q.waiting.push(w);
      if (!q.scheduled) turn(mailbox, q, gatherMs);
    });
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
    const run = e.queue.then(async (): Promise<T> => {
      // A turn before this one failed and dropped the connection: this turn gets a fresh one
      // rather than failing on a session that is logging out.
      if (clients.get(mailbox.id) !== e) return withClient(mailbox, fn);
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

/**
 * When the readers have parked the mailbox (the server keeps refusing its login), until when:
 * its actions wait for that too instead of logging in again, which on a hosted server counts
 * towards locking the account. A heartbeat no poller refreshes any more says nothing.
 */
async function parkedUntil(redis: Redis, prefix: string, mailboxId: string, now = Date.now()): Promise<number | undefined> {
  const [state, next, updatedAt] = await redis.hmget(imapKeys.heartbeat(prefix, mailboxId), 'state', 'nextAttemptAt', 'updatedAt');
  if (state !== 'parked' || !next || !updatedAt || now - Date.parse(updatedAt) > DEFAULT_STALE_AFTER_MS) return undefined;
  const at = Date.parse(next);
  return at > now ? at : undefined;
}

/** One mailbox-actions job: apply the mailbox's `after` to the message it names. */
async function runAction(
  env: { config: Config; redis: Redis; act: ReturnType<typeof actionBatcher> },
  data: { mailboxId: string; uidvalidity: string; uid: number },
  ctx: Pick<ProcessorContext, 'log' | 'park'>,
): Promise<{ outcome: ActionOutcome }> {
  const { config, act } = env;
  const mailbox = config.mailboxes.find((m) => m.id === data.mailboxId);
  if (!mailbox) throw new PermanentError(`no mailbox "${data.mailboxId}" in the configuration`);
  if (!mailbox.imap) throw new PermanentError(`mailbox "${data.mailboxId}" has no imap settings: nothing to act on`);
  if (mailbox.after.action === 'none') return { outcome: 'none' };
  const parked = await parkedUntil(env.redis, config.prefix, mailbox.id);
  if (parked !== undefined) return ctx.park(parked, `mailbox ${mailbox.id} is parked: its server keeps refusing the login`);
  const jobLog = ctx.log;
  try {
    const outcome = await act(mailbox, { uidvalidity: data.uidvalidity, uid: data.uid });
    // Every mail ends here: routine, at debug (its delivery is the one info line a mail gets).
    jobLog.debug({ mailbox: mailbox.id, uid: data.uid, outcome }, 'mailbox action done');
    return { outcome };
  } catch (err) {
    // Its slot goes to other mailboxes' actions; this one comes back (ACTION_TURN_DUE_MS).
    if (err instanceof TurnOverdue) return ctx.park(Date.now() + ACTION_STUCK_PARK_MS, err.message);
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
 * Queue, job id, retries and concurrency (32: the jobs that wait on one turn go out in the next, together) are the catalog's (queues/catalog.ts).
 */
export function mailboxActionsStation(): Station {
  return defineStation({
    queue: mailboxActions,
    needsToken: false,
    // The role (poller) is already bound to the logger; job lines get `queue` from the worker.
    prepare: async ({ ctx: { config }, redis, logger }) => actionConnections(config, redis, logger.child({ queue: mailboxActions.name })),
    process: ({ ctx: { config }, redis }, connections) => {
      const act = actionBatcher(connections, ACTION_GATHER_MS);
      return (data, ctx) => runAction({ config, redis, act }, data, ctx);
    },
    release: async (connections) => connections.closeAll(),
  });
}
