// One mailbox, read by exactly one poller: take the mailbox's Redis lock (or stand by until
// its holder dies), connect, and from then on fetch every UID above the cursor for the current
// UIDVALIDITY, enqueue each mail, then move the cursor. IDLE (or polling, for servers without
// it) says when to look again; a periodic resync looks anyway, since IDLE is only a hint.
// Failures back off with jitter; a password the server keeps refusing parks the mailbox, whoever
// holds its lock (reader-backoff.ts).
import type { ImapFlow } from 'imapflow';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { imapClient } from './connect.js';
import { advanceCursor, readCursor, startAfter } from './cursor.js';
import { LockLostError, classifyImapFailure } from './failure.js';
import { HEARTBEAT_INTERVAL_MS, writeHeartbeat, type Heartbeat, type MailboxState } from './heartbeat.js';
import { ingestGroup, wantedOf, type Enqueued } from './batch.js';
import { fetchGroups } from './ingest.js';
import { imapKeys } from './keys.js';
import { MailboxLock } from './lock.js';
import { ReaderBackoff } from './reader-backoff.js';
import { BURST_POLL_MS, BURST_QUIET_MS, ingestOptionsOf, type ReaderDeps } from './reader-deps.js';

export type { ReaderDeps, ReaderSettings } from './reader-deps.js';

// UIDs are fetched and enqueued in batches: bounded memory for a mailbox of 100,000 mails
// read from the start, and a cursor that moves after every mail.
const BATCH = 200;

export class MailboxReader {
  readonly id: string;
  private readonly log: Logger;
  private readonly lock: MailboxLock;
  private stopping = false;
  private lostReason: string | undefined;
  private client: ImapFlow | undefined;
  /** Set by IDLE news, the resync timer, or stop(): look again before idling. */
  private pending = false;
  private wakeSleep: (() => void) | undefined;
  private state: MailboxState = 'connecting';
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private uidvalidity = '';
  private lastUid = 0;
  /** The cursor's epoch (cursor.ts). */
  private epoch = '';
  private readonly backoff: ReaderBackoff;
  /** For the last mail enqueued: milliseconds from its arrival on the server to its job. */
  private lagMs: number | undefined;
  /** When this reader last enqueued a mail (epoch ms): polls instead of IDLE shortly after. */
  private lastMailAt = 0;

  constructor(private readonly deps: ReaderDeps) {
    this.id = deps.mailbox.id;
    this.log = deps.logger.child({ mailbox: this.id });
    this.lock = new MailboxLock({
      redis: deps.redis,
      key: imapKeys.lock(deps.prefix, this.id),
      ttlMs: deps.settings.lockTtlMs,
      onLost: (reason) => this.onLockLost(reason),
    });
    this.backoff = new ReaderBackoff({
      deps,
      log: this.log,
      lock: this.lock,
      lost: () => this.lostReason !== undefined,
      setState: (state) => (this.state = state),
      beat: (patch) => this.beat(patch),
      sleep: (ms) => this.sleep(ms),
      wake: () => this.wakeSleep?.(),
    });
  }

  /** Whether this reader holds its mailbox now. */
  get reading(): boolean {
    return this.lock.isHeld;
  }

  get status(): { state: MailboxState | 'standby'; uidvalidity: string; lastUid: number } {
    return { state: this.lock.isHeld ? this.state : 'standby', uidvalidity: this.uidvalidity, lastUid: this.lastUid };
  }

  start(): void {
    this.running ??= this.run().catch((e) => {
      // run() handles its own failures; reaching here is a bug, and must not pass quietly.
      this.log.fatal({ err: describeError(e) }, 'mailbox reader crashed');
      throw e;
    });
  }

  /** Stop fetching, finish the mail in hand, LOGOUT, release the lock. */
  async stop(): Promise<void> {
    this.stopping = true;
    // Nothing in hand while connecting (a black-holed host can take the connect timeout).
    if (this.state === 'connecting' && this.client && !this.client.usable) this.client.close();
    this.nudge();
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let acquired = false;
      try {
        acquired = await this.lock.tryAcquire();
      } catch (e) {
        this.log.warn({ err: describeError(e) }, 'cannot reach Redis to take the mailbox lock; retrying');
      }
      if (!acquired) {
        // Stand by; try again just after the holder's lock would run out, or a third of the
        // lifetime from now, whichever comes first.
        const remaining = await this.lock.remainingMs().catch(() => this.deps.settings.lockTtlMs / 3);
        await this.sleep(Math.min(remaining + 20, this.deps.settings.lockTtlMs / 3) + Math.random() * 50);
        continue;
      }
      this.lostReason = undefined;
      // Not the last hold's backoff or parking: resume() says what this one is.
      this.state = 'connecting';
      this.log.info({ owner: this.lock.token }, 'took the mailbox lock: reading');
      this.startHeartbeat();
      await this.hold();
      this.stopHeartbeat();
      if (this.stopping) break;
      this.log.warn({ reason: this.lostReason }, 'lost the mailbox lock: stopped reading, standing by');
    }
    if (this.lock.isHeld) {
      await this.beat({ state: 'stopped', pending: 0 });
      await this.lock.release();
      this.log.info('released the mailbox lock');
    }
  }

  /** Serve the mailbox while the lock is ours: connect, read, and back off on failures. */
  private async hold(): Promise<void> {
    await this.backoff.resume();
    while (!this.stopping && this.lock.isHeld) {
      try {
        await this.session();
      } catch (err) {
        if (this.stopping) return;
        if (this.lostReason || !this.lock.isHeld) return;
        const imap = this.deps.mailbox.imap;
        const failure = classifyImapFailure(err, { host: imap.host, port: imap.port, user: imap.user, folder: imap.folder, oauth: imap.auth?.provider });
        // A refused token may have been revoked before its expiry: the next login asks for a new one.
        if (failure.kind === 'auth') this.deps.tokens?.invalidate();
        await this.backoff.failed(failure);
      }
    }
  }

  /** One IMAP session: connect, open the folder, then read / wait until something breaks. */
  private async session(): Promise<void> {
    const { mailbox, settings } = this.deps;
    this.state = 'connecting';
    await this.beat({ state: 'connecting' });
    // OAuth: a valid token per login (cached until shortly before it lapses).
    const secret = this.deps.tokens ? { accessToken: await this.deps.tokens.get() } : this.deps.password;
    if (this.stopping || !this.lock.isHeld) return;
    const client = imapClient(mailbox.imap, secret, this.log, {
      maxIdleTimeMs: Math.min(settings.resyncIntervalMs, 4 * 60_000),
    });
    this.client = client;
    // Errors also reject the command in flight (or close the connection): handled there. The
    // listener only keeps an emitted error from crashing the process.
    client.on('error', (e: Error) => this.log.debug({ err: describeError(e) }, 'IMAP connection error'));
    client.on('exists', () => this.nudge());
    client.on('close', () => this.nudge());
    const resync = setInterval(() => this.nudge(), settings.resyncIntervalMs);
    resync.unref();
    // OAuth: log out and in again with a fresh token before this one lapses, between syncs,
    // rather than be cut off mid-fetch (Exchange Online ends the session at token expiry). At
    // least a second per session, should a provider hand out tokens that are due at once.
    let renew = false;
    const renewAt = this.deps.tokens?.refreshAt;
    const renewTimer = renewAt
      ? setTimeout(() => {
          renew = true;
          this.nudge();
        }, Math.min(2 ** 31 - 1, Math.max(1000, renewAt - Date.now())))
      : undefined;
    renewTimer?.unref();
    try {
      await client.connect();
      await this.backoff.loggedIn();
      if (this.stopping || !this.lock.isHeld) return;
      const opened = await client.mailboxOpen(mailbox.imap.folder);
      const idleSupported = client.capabilities.has('IDLE');
      this.backoff.failures = 0;
      const cursor = await readCursor(this.deps.redis, this.deps.prefix, this.id);
      this.uidvalidity = String(opened.uidValidity);
      this.lastUid = startAfter(cursor, this.uidvalidity);
      this.epoch = cursor?.uidvalidity === this.uidvalidity ? (cursor.epoch ?? '') : '';
      if (cursor && cursor.uidvalidity !== this.uidvalidity) {
        this.log.warn({ was: cursor.uidvalidity, now: this.uidvalidity }, 'UIDVALIDITY changed: reading the mailbox again from its start');
      }
      await this.rewindIfUidsReused(opened.uidNext);
      this.log.info({ folder: mailbox.imap.folder, uidvalidity: this.uidvalidity, after: this.lastUid, idleSupported }, 'mailbox open');
      await this.beat({ idleSupported, lastError: '', lastErrorAt: '', nextAttemptAt: '' });

      while (!this.stopping && this.lock.isHeld && !renew) {
        this.pending = false;
        await this.sync(client);
        if (this.pending || this.stopping || !this.lock.isHeld || renew) continue;
        await this.waitForNews(client, idleSupported);
        if (!client.usable && !this.stopping && this.lock.isHeld) {
          throw Object.assign(new Error(client.byeReason ? `server closed the connection: ${client.byeReason}` : 'connection closed'), {
            code: 'EConnectionClosed',
          });
        }
      }
      if (renew) this.log.debug('access token due for refresh: logging in again');
    } finally {
      clearInterval(resync);
      if (renewTimer) clearTimeout(renewTimer);
      this.client = undefined;
      if ((this.stopping || renew) && client.usable) {
        await client.logout().catch(() => client.close());
      } else {
        client.close();
      }
    }
  }

  /**
   * Wait until there may be something to read: IDLE (or a poll wait), or, while mail is coming
   * in, a short pause and a NOOP (its EXISTS nudges the loop). IDLE news lags a change (Dovecot
   * sends it up to half a second after), and the mail of a burst waited that long each: issue
   * #25, docs/benchmarks.md. Once the mailbox has been quiet for BURST_QUIET_MS, IDLE again.
   */
  private async waitForNews(client: ImapFlow, idleSupported: boolean): Promise<void> {
    this.state = 'idle';
    if (Date.now() - this.lastMailAt < BURST_QUIET_MS) {
      await this.sleep(BURST_POLL_MS);
      if (!this.pending && !this.stopping && client.usable) await client.noop();
      return;
    }
    await this.beat({ state: 'idle' });
    if (this.pending || this.stopping) return;
    if (idleSupported) {
      const idling = client.idle();
      // News that came in while the IDLE command was being issued.
      if (this.pending) this.nudge();
      await idling;
    } else {
      await this.sleep(this.deps.settings.pollIntervalMs);
    }
  }

  /** Enqueue every mail above the cursor, oldest first, moving the cursor after each. */
  private async sync(client: ImapFlow): Promise<void> {
    this.state = 'syncing';
    await this.beat({ state: 'syncing' });
    for (;;) {
      const selected = client.mailbox;
      if (!selected) throw Object.assign(new Error('the folder was closed by the server'), { code: 'NoConnection' });
      const uidvalidity = String(selected.uidValidity);
      if (uidvalidity !== this.uidvalidity) {
        this.log.warn({ was: this.uidvalidity, now: uidvalidity }, 'UIDVALIDITY changed: reading the mailbox again from its start');
        this.uidvalidity = uidvalidity;
        this.lastUid = 0;
        this.epoch = '';
      }
      const uids = ((await client.search({ uid: `${this.lastUid + 1}:*` }, { uid: true })) || [])
        .filter((u) => u > this.lastUid)
        .sort((a, b) => a - b);
      if (uids.length === 0) break;
      const batch = uids.slice(0, BATCH);
      if (!(await this.readBatch(client, uidvalidity, batch, uids.length))) return;
      // Past the mails skipped at the batch's end (vanished, or finished before).
      await this.moveCursor(uidvalidity, batch[batch.length - 1]!);
    }
    await this.beat({ lastSyncAt: new Date().toISOString(), pending: 0 });
  }

  /** Read one batch a fetch group at a time, the cursor moving after each; false when told to stop. */
  private async readBatch(client: ImapFlow, uidvalidity: string, batch: number[], pendingUids: number): Promise<boolean> {
    const { mailbox } = this.deps;
    const doneFlag = mailbox.after.action === 'flag' ? mailbox.after.flag : undefined;
    const metas = await client.fetchAll(batch.join(','), { uid: true, size: true, internalDate: true, flags: true }, { uid: true });
    const opts = ingestOptionsOf(this.deps, uidvalidity, this.epoch);
    let done = 0;
    let lastBeat = Date.now();
    for (const group of fetchGroups(wantedOf(batch, metas, doneFlag, this.log), opts)) {
      if (this.stopping || !this.lock.isHeld) return false;
      await ingestGroup(client, group, opts, this.log, (it) => this.enqueued(it));
      await this.moveCursor(uidvalidity, group.metas[group.metas.length - 1]!.uid);
      done += group.metas.length;
      if (Date.now() - lastBeat > 1000) {
        lastBeat = Date.now();
        await this.beat({ pending: Math.max(0, pendingUids - done) });
      }
    }
    return !this.stopping && this.lock.isHeld;
  }

  private enqueued(it: Enqueued): void {
    this.lastMailAt = Date.now();
    this.deps.onEnqueued?.({ uid: it.uid, jobId: it.jobId, internalDate: it.internalDate });
    if (it.internalDate) this.lagMs = Math.max(0, Date.now() - it.internalDate.getTime());
    if (it.record.parseError) this.log.warn({ uid: it.uid, jobId: it.jobId, reason: it.record.parseError }, 'mail enqueued as unparseable');
    else this.log.debug({ uid: it.uid, jobId: it.jobId, kind: it.record.classification.kind }, 'mail enqueued');
  }

  private async moveCursor(uidvalidity: string, uid: number): Promise<void> {
    if (uid <= this.lastUid) return;
    if (!(await advanceCursor(this.deps.redis, this.deps.prefix, this.id, this.lock.token, uidvalidity, uid, this.epoch))) {
      throw new LockLostError(this.id);
    }
    this.lastUid = uid;
  }

  /**
   * A UIDNEXT at or below the last UID read, under the same UIDVALIDITY: the server gives out
   * UIDs again that it gave before (a mailbox restored from a backup with its UID list, which
   * RFC 3501 forbids). Its new mail would sit below the cursor, never read; and a mail at a
   * reused UID would have the job id of the one before it, its add a no-op. Read the folder
   * again from its start under a new epoch (in the cursor and the job ids): a mail read before
   * gets a second job, which its Message-ID or hash in the ledger makes a no-op downstream.
   */
  private async rewindIfUidsReused(uidNext: number | undefined): Promise<void> {
    if (!uidNext || this.lastUid === 0 || uidNext > this.lastUid) return;
    this.log.warn(
      { uidvalidity: this.uidvalidity, uidNext, read: this.lastUid },
      'UIDNEXT is below the mail already read under the same UIDVALIDITY (a restored mailbox?): reading the mailbox again from its start',
    );
    this.epoch = String(Date.now());
    this.lastUid = 0;
    // Kept at once, not with the first mail read: a folder found empty (its mail moved away)
    // left the old position in the cursor, and once new mail took UIDNEXT past it before the
    // next connection (a restart, a lost connection), that mail sat below it, never read.
    if (!(await advanceCursor(this.deps.redis, this.deps.prefix, this.id, this.lock.token, this.uidvalidity, 0, this.epoch))) {
      throw new LockLostError(this.id);
    }
  }

  private onLockLost(reason: string): void {
    this.lostReason = reason;
    // Stop reading at once: the mail in hand is not finished; the new holder reads it again
    // and its job id makes the second add a no-op.
    this.client?.close();
    this.nudge();
  }

  /** Something to look at (new mail, resync time, stop): break IDLE or a sleep. */
  private nudge(): void {
    this.pending = true;
    const client = this.client;
    if (client?.idling) client.noop().catch(() => undefined);
    this.wakeSleep?.();
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        if (this.wakeSleep === wake) this.wakeSleep = undefined;
        resolve();
      };
      // New-mail news ends a poll wait; only stop() and a lost lock cut a backoff short.
      const wake = () => {
        if (this.stopping || this.lostReason || this.state === 'idle' || this.backoff.woken) done();
      };
      const t = setTimeout(done, ms);
      this.wakeSleep = wake;
    });
  }

  private startHeartbeat(): void {
    this.heartbeatTimer = setInterval(() => void this.tick(), this.deps.settings.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS);
    this.heartbeatTimer.unref();
  }

  /** Each heartbeat: write it, and while backing off or parked, look for a wake request. */
  private async tick(): Promise<void> {
    await this.beat({});
    if (this.state !== 'backoff' && this.state !== 'parked') return;
    await this.backoff.lookForWake();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** Write the heartbeat (only while holding the lock: a standby must not speak for the mailbox). */
  private async beat(patch: Partial<Omit<Heartbeat, 'mailboxId' | 'updatedAt'>>): Promise<void> {
    if (!this.lock.isHeld) return;
    try {
      await writeHeartbeat(this.deps.redis, this.deps.prefix, {
        mailboxId: this.id,
        state: this.state,
        owner: this.lock.token.split(':').slice(0, 2).join(':'),
        uidvalidity: this.uidvalidity || undefined,
        lastUid: this.lastUid,
        lagMs: this.lagMs,
        ...patch,
      });
    } catch (e) {
      this.log.debug({ err: describeError(e) }, 'could not write the heartbeat');
    }
  }
}
