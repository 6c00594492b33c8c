// The Dovecot test helper itself: a mail appended over IMAP can be read back, the server
// survives a restart with its mail, and wrong passwords are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapFlow } from 'imapflow';
import { dovecotUnavailable, startDovecot, testMail, type Dovecot } from '../helpers/dovecot.js';
import { notice } from '../helpers/corpus.js';

const why = dovecotUnavailable();
if (why) notice(`dovecot tests skipped: ${why}`);

describe.skipIf(!!why)('test Dovecot', () => {
  let dovecot: Dovecot;
  beforeAll(async () => {
    dovecot = await startDovecot();
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('appends a mail over IMAP and reads the same bytes back', async () => {
    const raw = testMail('roundtrip');
    const uid = await dovecot.appendRaw(raw);
    expect(uid).toBeGreaterThan(0);
    const c = await dovecot.client();
    try {
      const lock = await c.getMailboxLock('INBOX');
      try {
        const msg = await c.fetchOne(String(uid), { source: true, envelope: true }, { uid: true });
        expect(msg && msg.envelope?.subject).toBe('Test mail roundtrip');
        expect(msg && msg.source?.toString()).toBe(raw);
      } finally {
        lock.release();
      }
    } finally {
      await c.logout();
    }
  });

  it('keeps the mail and its UIDVALIDITY across a restart', async () => {
    const c1 = await dovecot.client();
    const before = (await c1.status('INBOX', { messages: true, uidValidity: true })) || undefined;
    await c1.logout();
    await dovecot.restart();
    const c2 = await dovecot.client();
    const after = (await c2.status('INBOX', { messages: true, uidValidity: true })) || undefined;
    await c2.logout();
    expect(after?.messages).toBe(before?.messages);
    expect(after?.uidValidity).toBe(before?.uidValidity);
  });

  it('refuses a wrong password', async () => {
    const c = new ImapFlow({
      host: dovecot.host,
      port: dovecot.port,
      secure: false,
      doSTARTTLS: false,
      auth: { user: dovecot.users[0]!.user, pass: 'wrong' },
      logger: false,
    });
    await expect(c.connect()).rejects.toMatchObject({ authenticationFailed: true });
  });
});
