// A mailbox reader's failures and waits (reader.ts): back off after a failure, park the mailbox
// after authFailuresToPark refused logins in a row, and end a wait early for `mailroom
// mailboxes retry`. The run of refused logins is the mailbox's, in Redis (parking.ts): the
// reader that takes the lock goes on with it and waits out a parking it finds.
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { isConnectionError } from '../core/redis-outage.js';
import { afterFailure, type ImapFailure } from './failure.js';
import { takeWake, type Heartbeat, type MailboxState } from './heartbeat.js';
import type { MailboxLock } from './lock.js';
import { imapKeys } from './keys.js';
import { clearLoginRecord, readLoginRecord, recordRefusal, resumeDelay } from './parking.js';
import type { ReaderDeps } from './reader-deps.js';

/** What the backoff needs of its reader. */
export interface BackoffHost {
  deps: ReaderDeps;
  log: Logger;
  lock: MailboxLock;
  /** Whether the reader was told it lost its lock (and has not taken it again). */
  lost(): boolean;
  setState(state: MailboxState): void;
  beat(patch: Partial<Omit<Heartbeat, 'mailboxId' | 'updatedAt'>>): Promise<void>;
  /** The reader's sleep: ended early by stop(), a lost lock, or `woken` (wake()). */
  sleep(ms: number): Promise<void>;
  wake(): void;
}

export class ReaderBackoff {
  /** Failures in a row of any kind: the exponent of the reconnect delay. */
  failures = 0;
  /** Refused logins in a row, read from the mailbox's record at each lock taken. */
  private authFailures = 0;
  /** Set by `mailroom mailboxes retry`: end the backoff (or parking) now. */
  woken = false;

  constructor(private readonly host: BackoffHost) {}

  private get id(): string {
    return this.host.deps.mailbox.id;
  }

  /**
   * Just took the lock: go on with the mailbox's run of refused logins. A mailbox parked (or
   * backing off after a refusal) by an earlier holder waits for its next attempt, at most
   * parkedRetry; `mailroom mailboxes retry` or a credential other than the refused one ends the
   * wait at once, for one try.
   */
  async resume(): Promise<void> {
    const { deps, log } = this.host;
    const park = deps.settings.authFailuresToPark;
    this.failures = 0;
    let record;
    try {
      record = await readLoginRecord(deps.redis, deps.prefix, this.id);
    } catch (e) {
      // Keep this reader's own count: Redis away now likely takes the lock too. Anything else
      // (a value of another type under the key) is said once per lock taken; the next refused
      // login writes the record afresh.
      if (isConnectionError(e)) log.debug({ err: describeError(e) }, 'could not read the mailbox login record');
      else log.warn({ err: describeError(e), key: imapKeys.login(deps.prefix, this.id) }, 'the mailbox login record is unreadable: ignored (the next refused login rewrites it)');
      return;
    }
    this.authFailures = record?.failures ?? 0;
    // A retry asked while no poller held the mailbox is this holder's; so is the try it asks for.
    this.woken = false;
    await this.lookForWake();
    if (this.woken) return this.tookWake('parked');
    if (!record || this.authFailures === 0) return;
    if (deps.credential && record.credential && deps.credential !== record.credential) {
      log.info({ failures: this.authFailures }, 'the login credential changed since the server refused it: trying again now');
      this.authFailures = Math.min(this.authFailures, park - 1);
      return;
    }
    const now = Date.now();
    const delayMs = resumeDelay(record, now, deps.settings.parkedRetryMs);
    if (delayMs <= 0) return;
    const state = this.authFailures >= park ? 'parked' : 'backoff';
    const nextAttemptAt = new Date(now + delayMs).toISOString();
    this.woken = false;
    this.host.setState(state);
    log[state === 'parked' ? 'info' : 'debug'](
      { state, failures: this.authFailures, nextAttemptAt },
      state === 'parked' ? 'mailbox parked: the server kept refusing the login; waiting for its next attempt' : 'the server refused the last login: waiting for the next attempt',
    );
    await this.host.beat({ state, nextAttemptAt });
    await this.pause(delayMs, state);
  }

  /** Logged in: the run of refused logins is over, for every holder to come. */
  async loggedIn(): Promise<void> {
    const { deps, log } = this.host;
    await clearLoginRecord(deps.redis, deps.prefix, this.id).catch((e) => log.debug({ err: describeError(e) }, 'could not clear the mailbox login record'));
    this.authFailures = 0;
  }

  async failed(failure: ImapFailure): Promise<void> {
    const { deps, log } = this.host;
    this.failures++;
    // Network trouble between two refusals does not end the run: only a login does.
    if (failure.kind === 'auth') this.authFailures++;
    const s = deps.settings;
    const decision = afterFailure(
      failure,
      { failures: this.failures, authFailures: this.authFailures },
      { minMs: s.reconnectMinMs, maxMs: s.reconnectMaxMs, authFailuresToPark: s.authFailuresToPark, parkedRetryMs: s.parkedRetryMs },
    );
    const next = new Date(Date.now() + decision.delayMs).toISOString();
    // Parked: say what to fix, where, and how to try again without waiting.
    const lastError =
      decision.state === 'parked'
        ? `${failure.message}: fix the password (on the server, or in ${deps.mailbox.imap.passwordEnv} and restart the poller), then run \`mailroom mailboxes retry ${this.id}\``
        : failure.message;
    const logAt = decision.state === 'parked' || this.failures === 1 ? 'warn' : 'info';
    log[logAt](
      { kind: failure.kind, reason: lastError, state: decision.state, retryInMs: decision.delayMs, failures: this.failures },
      decision.state === 'parked' ? 'mailbox parked: the server keeps refusing the login' : 'IMAP trouble: will retry',
    );
    // A wake request taken from here on is for this wait.
    this.woken = false;
    this.host.setState(decision.state);
    if (failure.kind === 'auth') {
      await recordRefusal(deps.redis, deps.prefix, this.id, {
        failures: this.authFailures,
        nextAttemptAt: Date.now() + decision.delayMs,
        ...(deps.credential ? { credential: deps.credential } : {}),
      }).catch((e) => log[isConnectionError(e) ? 'debug' : 'warn']({ err: describeError(e) }, 'could not write the mailbox login record'));
    }
    await this.host.beat({ state: decision.state, lastError, lastErrorAt: new Date().toISOString(), nextAttemptAt: next });
    await this.pause(decision.delayMs, decision.state);
  }

  /** Take a wake request, if this reader holds the lock (in Redis too: see takeWake). */
  async lookForWake(): Promise<void> {
    const { deps, lock } = this.host;
    if (!lock.isHeld || this.host.lost()) return;
    if (!(await takeWake(deps.redis, deps.prefix, this.id, lock.token).catch(() => false))) return;
    this.woken = true;
    this.host.wake();
  }

  /**
   * Wait out a backoff or a parking: until `ms` pass, the lock is lost, stop(), or a wake
   * request (`mailroom mailboxes retry`, taken here first, then at each heartbeat).
   */
  private async pause(ms: number, was: 'backoff' | 'parked'): Promise<void> {
    if (ms > 0 && !this.woken) await this.lookForWake();
    // A lock lost while the heartbeat or record was written has nudged no sleep yet: do not
    // start one (it would last the whole backoff, parkedRetry when parked).
    if (!this.woken && !this.host.lost() && this.host.lock.isHeld) await this.host.sleep(ms);
    if (this.woken) this.tookWake(was);
  }

  private tookWake(was: 'backoff' | 'parked'): void {
    this.woken = false;
    this.host.log.info({ was }, 'woken by `mailroom mailboxes retry`: trying again now');
    // One more try: a password still refused parks the mailbox again at once (repeated
    // refused logins can lock the account on the server), any other failure backs off afresh.
    this.authFailures = Math.min(this.authFailures, this.host.deps.settings.authFailuresToPark - 1);
    this.failures = 0;
  }
}
