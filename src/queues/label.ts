// Job names for people: Bull Board lists a job by its name, so a name says which mail or
// person the job is about (`support: ana@customer-one.test "Printer jams"`) instead of the
// queue's name again. Names are made from what the job data already holds (addresses,
// subject, issue keys: never a secret), stripped of control characters and cut to a bounded
// length on code-point boundaries, so a hostile subject cannot break or bloat the board.

/** Longest job name: a board row stays one line, and Redis keeps no more than this per job. */
export const MAX_JOB_NAME = 120;

/** Collapse whitespace and control characters, and cut to `max` code points with an ellipsis. */
export function clip(text: string | undefined, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = (text ?? '').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]+/g, ' ').replace(/\s+/g, ' ').trim();
  const chars = Array.from(clean);
  return chars.length <= max ? clean : chars.slice(0, Math.max(0, max - 1)).join('').trimEnd() + '…';
}

/** `support: ana@customer-one.test "Printer jams"` (parts that are missing are left out). */
export function mailLabel(mailboxId: string, from: string | undefined, subject: string | undefined, verb = ''): string {
  const who = from ? clip(from, 40) : '(no sender)';
  const what = subject?.trim() ? ` "${clip(subject, 60)}"` : ' (no subject)';
  return clip(`${verb}${mailboxId}: ${who}${what}`, MAX_JOB_NAME);
}
