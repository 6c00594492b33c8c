// An outsider's attacks on the batched mailbox actions (src/imap/actions.ts), against a real
// Dovecot: a job naming a UID no IMAP server can hold must not fail the other jobs of its
// batch, and the payload schema must refuse such a UID outright.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyActions } from '../../src/imap/actions.js';
import { mailboxActions } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, startDovecot, testMail, type Dovecot } from '../helpers/dovecot.js';

const why = dovecotUnavailable();
if (why) notice(`mailbox action attack tests skipped: ${why}`);

const USER = { user: 'attack@example.test', password: 'pass-attack-1' };

describe.skipIf(!!why)('mailbox actions under hostile job data', () => {
  let dovecot: Dovecot;
  beforeAll(async () => {
    dovecot = await startDovecot({ users: [USER] });
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('a UID beyond 32 bits in a batch fails neither the batch nor the good jobs in it', async () => {
    const uid = (await dovecot.appendRaw(testMail('huge-uid-1')))!;
    const client = await dovecot.client();
    try {
      const status = await client.status('INBOX', { uidValidity: true });
      if (!status) throw new Error('STATUS refused');
      const uidvalidity = String(status.uidValidity);
      const outcomes = await applyActions(client, 'INBOX', { action: 'flag', flag: '$MailroomDone' }, [
        { uidvalidity, uid },
        { uidvalidity, uid: 2 ** 32 },
        { uidvalidity, uid: Number.MAX_SAFE_INTEGER },
      ]);
      expect(outcomes).toEqual(['flagged', 'not-found', 'not-found']);
    } finally {
      await client.logout();
    }
  });

  it('the payload schema refuses a UID no IMAP server can hold (UIDs are 32-bit)', () => {
    const base = { mailboxId: 'support', uidvalidity: '1', outcome: 'delivered' as const };
    expect(mailboxActions.payload.safeParse({ ...base, uid: 4294967295 }).success).toBe(true);
    expect(mailboxActions.payload.safeParse({ ...base, uid: 4294967296 }).success).toBe(false);
    expect(mailboxActions.payload.safeParse({ ...base, uid: 0 }).success).toBe(false);
    expect(mailboxActions.payload.safeParse({ ...base, uid: -3 }).success).toBe(false);
  });
});
