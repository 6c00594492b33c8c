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
export function sameFolder(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

interface ReadingMailbox {
  id: string;
  imap?: { host: string; port: number; user: string; folder: string };
  after: z.infer<typeof afterSchema>;
}

/**
 * Mailboxes that move finished mail into a folder another mailbox entry reads on the same account:
 * each mail would be read there again and become Jira work twice. Index of each, with what to say.
 */
export function movesIntoReadFolders(mailboxes: readonly ReadingMailbox[]): { index: number; message: string }[] {
  const account = (i: NonNullable<ReadingMailbox['imap']>) => [i.host.trim().toLowerCase().replace(/\.$/, ''), i.port, i.user.trim().toLowerCase()].join('|');
  const found: { index: number; message: string }[] = [];
  mailboxes.forEach((m, index) => {
    if (m.after.action !== 'move' || !m.imap) return;
    const target = m.after.folder;
    const other = mailboxes.findIndex((o, j) => j !== index && o.imap && account(o.imap) === account(m.imap!) && sameFolder(o.imap.folder, target));
    if (other < 0) return;
    found.push({ index, message: `is the folder mailboxes[${other}] ("${mailboxes[other]!.id}") reads: each mail moved there would be read again and become Jira work twice; name a folder no mailbox reads, e.g. Processed` });
  });
  return found;
}
