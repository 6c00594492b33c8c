// The poller's own Redis keys, all under `<prefix>:imap:`. Flushing them loses no mail: the
// poller rescans the mailbox, and mail-inbound job ids make every second add a no-op.
import { key } from '../core/redis.js';

export const imapKeys = {
  /** Hash { uidvalidity, lastUid }: the highest UID enqueued for the current UIDVALIDITY. */
  cursor: (prefix: string, mailboxId: string) => key(prefix, 'imap', mailboxId, 'cursor'),
  /** String: the token of the poller that reads this mailbox (SET NX PX). */
  lock: (prefix: string, mailboxId: string) => key(prefix, 'imap', mailboxId, 'lock'),
  /** Hash: the mailbox's heartbeat (see heartbeat.ts). */
  heartbeat: (prefix: string, mailboxId: string) => key(prefix, 'imap', mailboxId, 'heartbeat'),
  /** String, set by `mailroom mailboxes retry`: the poller holding the mailbox ends its backoff now. */
  wake: (prefix: string, mailboxId: string) => key(prefix, 'imap', mailboxId, 'wake'),
  /**
   * Hash { failures, nextAttemptAt, credential? }: the mailbox's run of refused logins, whoever
   * holds its lock (see parking.ts). Deleted by a successful login.
   */
  login: (prefix: string, mailboxId: string) => key(prefix, 'imap', mailboxId, 'login'),
  /** Set of mailbox ids that ever wrote a heartbeat, so readers need no SCAN. */
  mailboxes: (prefix: string) => key(prefix, 'imap', 'mailboxes'),
};
