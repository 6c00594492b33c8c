// What a poller does to a mail once it is finished (mailboxes[].after): move it, flag it, or
// nothing. Checked at config load, because a value the IMAP server refuses fails every action on
// every try, and a wrong one (\Deleted, the folder being read) loses mail or loops.
import { z } from 'zod';

// A keyword is an IMAP atom (RFC 9051 flag-keyword): printable ASCII without ( ) { % * " \ ].
// A server answers BAD to anything else, and every mailbox action would fail on each try.
const KEYWORD = /^(?:(?![(){%*"\\\]])[\x21-\x7e])+$/;
// System flags an action may set. Not \Deleted: the next EXPUNGE by any client (Outlook's on
// close, a server's auto-expunge) removes the mail, and a customer's mail is never dropped.
const SETTABLE_SYSTEM_FLAGS = ['\\Seen', '\\Flagged', '\\Answered'];
const actionFlag = z
  .string()
  .min(1)
  .refine(
    (f) => KEYWORD.test(f) || SETTABLE_SYSTEM_FLAGS.some((s) => s.toLowerCase() === f.toLowerCase()),
    'an IMAP keyword such as $MailroomDone (ASCII; no spaces, parentheses, quotes, %, *, ], \\ or control characters), or one of \\Seen, \\Flagged, \\Answered (not \\Deleted: the next expunge by any mail client would remove the mail)',
  );
// A folder name with a control character cannot be sent; * and % are LIST wildcards, which
// servers refuse in a name they are asked to create.
const actionFolder = z
  .string()
  .min(1)
  // eslint-disable-next-line no-control-regex
  .refine((f) => !/[\x00-\x1f\x7f*%]/.test(f), 'a folder name without control characters, * or % (IMAP wildcards), e.g. Processed');

export const afterSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('move'), folder: actionFolder }).strict(),
  z.object({ action: z.literal('flag'), flag: actionFlag }).strict(),
  z.object({ action: z.literal('none') }).strict(),
]);

/**
 * Whether two folder names may be one folder: INBOX is case-insensitive (RFC 9051) and so are
 * every name on Exchange and Gmail, so any case counts (the stricter reading).
 */
function sameFolder(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

interface ReadingMailbox {
  id: string;
  imap?: { host: string; port: number; user: string; folder: string };
  after: z.infer<typeof afterSchema>;
}

/** One IMAP account (host, port, login) as compared: a trailing dot and the case do not matter. */
export function imapAccount(i: { host: string; port: number; user: string }): string {
  return [i.host.trim().toLowerCase().replace(/\.$/, ''), i.port, i.user.trim().toLowerCase()].join('|');
}

/**
 * Mailboxes that move finished mail into a folder a mailbox entry reads on the same account,
 * with what to say. Its own folder: the mail comes back under a new UID, is read again, found
 * delivered, and moved again, for ever. Another entry's: each mail becomes Jira work twice.
 */
export function movesIntoReadFolders(mailboxes: readonly ReadingMailbox[]): { index: number; message: string }[] {
  const found: { index: number; message: string }[] = [];
  mailboxes.forEach((m, index) => {
    if (m.after.action !== 'move' || !m.imap) return;
    const target = m.after.folder;
    if (sameFolder(m.imap.folder, target)) {
      found.push({ index, message: `is the folder this mailbox reads (${m.imap.folder}): each mail moved there would come back under a new UID, be read again and moved again, without end; name another folder, e.g. Processed` });
      return;
    }
    const other = mailboxes.findIndex((o) => o.imap && imapAccount(o.imap) === imapAccount(m.imap!) && sameFolder(o.imap.folder, target));
    if (other < 0) return;
    found.push({ index, message: `is the folder mailboxes[${other}] ("${mailboxes[other]!.id}") reads: each mail moved there would be read again and become Jira work twice; name a folder no mailbox reads, e.g. Processed` });
  });
  return found;
}
