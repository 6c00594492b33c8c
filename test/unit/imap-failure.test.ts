// What the poller makes of IMAP failures, and how it spaces its retries.
import { describe, expect, it } from 'vitest';
import { LockLostError, afterFailure, classifyImapFailure, reconnectDelay } from '../../src/imap/failure.js';
import { fetchGroups } from '../../src/imap/ingest.js';
import { startAfter } from '../../src/imap/cursor.js';

const ctx = { host: 'imap.example.com', port: 993, user: 'support@example.com', folder: 'Support' };

describe('classifyImapFailure', () => {
  it.each([
    [{ authenticationFailed: true, responseText: 'Authentication failed.' }, 'auth', /refused the login of support@example.com/],
    [{ serverResponseCode: 'AUTHENTICATIONFAILED', message: 'Command failed' }, 'auth', /check the password/],
    [{ mailboxMissing: true, message: 'Command failed' }, 'folder', /folder "Support" does not exist/],
    [{ serverResponseCode: 'NONEXISTENT', message: 'Command failed' }, 'folder', /does not exist/],
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' }, 'network', /cannot reach IMAP server imap.example.com:993 \(connection refused/],
    [{ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND x' }, 'network', /host name not found/],
    [{ code: 'CONNECT_TIMEOUT', message: 'Failed to establish connection in required time' }, 'network', /timed out/],
    [{ code: 'NoConnection', message: 'Connection not available' }, 'network', /connection lost/],
    [{ message: 'something odd' }, 'other', /something odd/],
  ])('%o is %s', (err, kind, message) => {
    const f = classifyImapFailure(err, ctx);
    expect(f.kind).toBe(kind);
    expect(f.message).toMatch(message);
  });

  it('never puts a password in the message', () => {
    const f = classifyImapFailure({ authenticationFailed: true, responseText: 'Authentication failed.' }, ctx);
    expect(f.message).not.toMatch(/secret/);
  });

  it('knows a lost lock', () => {
    expect(classifyImapFailure(new LockLostError('support'), ctx).kind).toBe('lock-lost');
  });

  it('describes a non-Error value', () => {
    expect(classifyImapFailure('boom', ctx)).toEqual({ kind: 'other', message: 'boom' });
  });
});

describe('reconnectDelay', () => {
  const policy = { minMs: 1000, maxMs: 60_000 };
  it('doubles from the minimum, within [d/2, d]', () => {
    expect(reconnectDelay(1, policy, () => 0)).toBe(500);
    expect(reconnectDelay(1, policy, () => 1)).toBe(1000);
    expect(reconnectDelay(3, policy, () => 1)).toBe(4000);
    expect(reconnectDelay(3, policy, () => 0)).toBe(2000);
  });
  it('is capped', () => {
    expect(reconnectDelay(30, policy, () => 1)).toBe(60_000);
    expect(reconnectDelay(1000, policy, () => 0.5)).toBe(45_000);
  });
});

describe('afterFailure', () => {
  const opts = { minMs: 1000, maxMs: 60_000, authFailuresToPark: 3, parkedRetryMs: 600_000 };
  const auth = { kind: 'auth' as const, message: 'refused' };
  it('backs off on the first authentication failures, then parks', () => {
    expect(afterFailure(auth, { failures: 1, authFailures: 1 }, opts, () => 1)).toEqual({ state: 'backoff', delayMs: 1000 });
    expect(afterFailure(auth, { failures: 2, authFailures: 2 }, opts, () => 1)).toEqual({ state: 'backoff', delayMs: 2000 });
    expect(afterFailure(auth, { failures: 3, authFailures: 3 }, opts, () => 1)).toEqual({ state: 'parked', delayMs: 600_000 });
  });
  it('retries a missing folder at the cap, a network failure exponentially', () => {
    expect(afterFailure({ kind: 'folder', message: '' }, { failures: 1, authFailures: 0 }, opts)).toEqual({ state: 'backoff', delayMs: 60_000 });
    expect(afterFailure({ kind: 'network', message: '' }, { failures: 4, authFailures: 0 }, opts, () => 1)).toEqual({ state: 'backoff', delayMs: 8000 });
  });
});

describe('fetchGroups', () => {
  const opts = { maxMessageBytes: 50 * 1024 * 1024, inMemoryMaxBytes: 1024 * 1024 };
  it('puts consecutive small mails together and streams each big one alone', () => {
    const groups = fetchGroups(
      [
        { uid: 1, size: 1000 },
        { uid: 2, size: 2000 },
        { uid: 3, size: 5 * 1024 * 1024 },
        { uid: 4, size: 100 },
        { uid: 5 },
      ],
      opts,
    );
    expect(groups.map((g) => [g.streamed, g.metas.map((m) => m.uid)])).toEqual([
      [false, [1, 2]],
      [true, [3]],
      [false, [4]],
      [true, [5]], // unknown size: streamed, never read whole on trust
    ]);
  });
  it('bounds a group by count and bytes', () => {
    const many = Array.from({ length: 120 }, (_, i) => ({ uid: i + 1, size: 10 }));
    expect(fetchGroups(many, opts).map((g) => g.metas.length)).toEqual([50, 50, 20]);
    const big = Array.from({ length: 10 }, (_, i) => ({ uid: i + 1, size: 1024 * 1024 }));
    expect(fetchGroups(big, opts).map((g) => g.metas.length)).toEqual([4, 4, 2]);
  });
  it('streams a mail over the mailbox limit even when small enough for memory', () => {
    expect(fetchGroups([{ uid: 1, size: 5000 }], { maxMessageBytes: 2048, inMemoryMaxBytes: 1024 * 1024 })[0]!.streamed).toBe(true);
  });
});

describe('startAfter', () => {
  it('continues the cursor of the same UIDVALIDITY, restarts on another', () => {
    expect(startAfter({ uidvalidity: '17', lastUid: 40 }, '17')).toBe(40);
    expect(startAfter({ uidvalidity: '17', lastUid: 40 }, '18')).toBe(0);
    expect(startAfter(undefined, '17')).toBe(0);
  });
});
