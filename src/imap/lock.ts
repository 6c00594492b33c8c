// One Redis lock per mailbox, so that of several poller processes exactly one reads it.
// SET NX PX with a random token; renewed at a third of its lifetime by compare-and-PEXPIRE;
// released by compare-and-DEL. A holder that cannot renew in time (Redis away, event loop
// stuck) must assume the lock is gone: it is told through onLost and stops reading at once.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from '../core/redis.js';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export function lockToken(): string {
  return `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
}

export interface MailboxLockOptions {
  redis: Redis;
  key: string;
  ttlMs: number;
  token?: string;
  /** Called once when the lock is found taken by another holder or could not be renewed in time. */
  onLost: (reason: string) => void;
}

export class MailboxLock {
  readonly token: string;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private heldUntil = 0;
  private held = false;

  constructor(private readonly opts: MailboxLockOptions) {
    this.token = opts.token ?? lockToken();
  }

  get isHeld(): boolean {
    return this.held && Date.now() < this.heldUntil;
  }

  /** Try once to take the lock; on success, keeps renewing it until release() or loss. */
  async tryAcquire(): Promise<boolean> {
    const started = Date.now();
    const ok = await this.opts.redis.set(this.opts.key, this.token, 'PX', this.opts.ttlMs, 'NX');
    if (ok !== 'OK') return false;
    this.held = true;
    this.extend(started);
    this.schedule();
    return true;
  }

  /** Milliseconds until the current holder's lock expires (0 when free), to time a takeover. */
  async remainingMs(): Promise<number> {
    const ttl = await this.opts.redis.pttl(this.opts.key);
    return ttl > 0 ? ttl : 0;
  }

  /** Who holds the lock now (a token: host:pid:random), if anyone. */
  async holder(): Promise<string | null> {
    return this.opts.redis.get(this.opts.key);
  }

  async release(): Promise<void> {
    this.stopRenewing();
    if (!this.held) return;
    this.held = false;
    await this.opts.redis.eval(RELEASE, 1, this.opts.key, this.token).catch(() => undefined);
  }

  private stopRenewing(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.watchdog) clearTimeout(this.watchdog);
    this.timer = undefined;
    this.watchdog = undefined;
  }

  /**
   * The lock is ours until `since + ttl` (measured from before the command, to be safe). A
   * watchdog fires then unless a renewal moved it: a renewal stuck on a dead Redis connection
   * never answers, and the holder must still stop reading in time.
   */
  private extend(since: number): void {
    this.heldUntil = since + this.opts.ttlMs;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (this.held) this.lose('could not renew the lock in time (Redis unreachable?)');
    }, Math.max(0, this.heldUntil - Date.now()));
    this.watchdog.unref();
  }

  private schedule(): void {
    // A third of the lifetime: two renewals can fail (a Redis blip) before the lock runs out.
    this.timer = setTimeout(() => void this.renew(), Math.max(50, Math.floor(this.opts.ttlMs / 3)));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (!this.held) return;
    const started = Date.now();
    try {
      const r = (await this.opts.redis.eval(RENEW, 1, this.opts.key, this.token, String(this.opts.ttlMs))) as number;
      if (!this.held) return;
      if (r !== 1) return this.lose('the lock was taken by another poller or removed from Redis');
      this.extend(started);
    } catch (e) {
      if (!this.held) return;
      if (Date.now() >= this.heldUntil) return this.lose(`could not renew the lock in time (${(e as Error).message})`);
    }
    if (Date.now() >= this.heldUntil) return this.lose('the lock expired before it could be renewed (event loop blocked?)');
    this.schedule();
  }

  private lose(reason: string): void {
    this.stopRenewing();
    this.held = false;
    this.opts.onLost(reason);
  }
}
