// The stored parking of a mailbox: how long a new lock holder waits, and the keyed fingerprint
// that tells a changed credential from the refused one.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { credentialFingerprint, resumeDelay } from '../../src/imap/parking.js';
import type { SecretKey } from '../../src/token/key.js';

const TEN_MIN = 600_000;

describe('resumeDelay', () => {
  const now = Date.parse('2026-05-01T12:00:00Z');
  it.each([
    ['no record', undefined, 0],
    ['no refusal counted', { failures: 0, nextAttemptAt: now + 5000 }, 0],
    ['no next attempt stored', { failures: 3 }, 0],
    ['next attempt past', { failures: 3, nextAttemptAt: now - 1 }, 0],
    ['next attempt ahead', { failures: 3, nextAttemptAt: now + 5000 }, 5000],
    ['next attempt centuries ahead: capped at parkedRetry', { failures: 3, nextAttemptAt: now + 1e13 }, TEN_MIN],
  ])('%s', (_what, record, want) => {
    expect(resumeDelay(record, now, TEN_MIN)).toBe(want);
  });
});

describe('credentialFingerprint', () => {
  const key = (): SecretKey => ({ bytes: randomBytes(32), id: 'k', source: 'test', warnings: [] });
  const mailbox = { id: 'support', imap: { host: 'imap.example.com', port: 993, user: 'support@example.com' } } as Parameters<typeof credentialFingerprint>[2];
  const config = (password: string) => ({ prefix: '{mailroom}', secrets: { imapPasswords: { support: password } } });

  it('is keyed, says when the password changed, and holds nothing of it', () => {
    const k = key();
    const a = credentialFingerprint(k, config('hunter2'), mailbox)!;
    expect(a).toMatch(/^[\w-]{32}$/);
    expect(credentialFingerprint(k, config('hunter2'), mailbox)).toBe(a);
    expect(credentialFingerprint(k, config('hunter3'), mailbox)).not.toBe(a);
    expect(credentialFingerprint(key(), config('hunter2'), mailbox)).not.toBe(a);
    expect(credentialFingerprint(k, config('hunter2'), { ...mailbox, id: 'other' })).not.toBe(a);
    expect(credentialFingerprint(undefined, config('hunter2'), mailbox)).toBeUndefined();
  });
});
