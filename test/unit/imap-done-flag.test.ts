// Which mails of a batch the poller reads (src/imap/batch.ts wantedOf). A mail carrying the
// mailbox's `after` keyword was finished by Mailroom before (cursor lost, UIDVALIDITY changed)
// and is skipped. A system flag the action may set (\Seen, \Flagged, \Answered; the config
// takes them) proves nothing: a person opening the support mailbox, or a server rule flagging
// mail on arrival, sets it on a customer's mail Mailroom never read, which must not be dropped.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/log.js';
import { wantedOf } from '../../src/imap/batch.js';

const meta = (uid: number, ...flags: string[]) => ({ uid, size: 100, flags: new Set(flags) });
const uids = (done: string, metas: ReturnType<typeof meta>[]) => wantedOf(metas.map((m) => m.uid), metas, done, silentLogger).map((m) => m.uid);

describe('the done flag', () => {
  it('skips a mail carrying the keyword, in any case', () => {
    expect(uids('$MailroomDone', [meta(1, '$MailroomDone'), meta(2), meta(3, '$mailroomdone')])).toEqual([2]);
  });

  it('reads a mail a person opened, flagged or answered when the action sets that system flag', () => {
    expect(uids('\\Seen', [meta(1, '\\Seen'), meta(2)])).toEqual([1, 2]);
    expect(uids('\\Flagged', [meta(1, '\\Flagged', '\\Seen')])).toEqual([1]);
    expect(uids('\\answered', [meta(1, '\\Answered')])).toEqual([1]);
  });
});
