// Text from outside made safe to print for a person at a terminal. Whoever can mail the support
// address writes a mail's Subject, From name, Message-ID and attachment names, and Jira writes
// its error texts; the operator's tools (`mailroom audit`, `failed list/show`, `status`,
// `reprocess`, ...) print them. A terminal obeys some characters instead of showing them: ESC
// starts control sequences (colours, cursor moves, OSC 8 links, OSC 52 clipboard writes, a new
// window title), CR returns to the start of the line to overwrite it, BEL rings, C1 controls
// (U+0080-U+009F) are the same commands in one character, and bidi controls reorder what
// follows (a name that reads backwards, "invoice‮fdp.exe"). A newline inside a value would start
// a line the attacker wrote: a forged table row or audit entry.
//
// No dependency does this: util.stripVTControlCharacters removes well-formed ANSI sequences
// only (a lone ESC, CR, C1 and bidi controls pass), strip-ansi is the same regex, and both
// hide that something was there. Here each such character is shown as U+FFFD (the replacement
// character), so an operator sees that a value held something odd, and JSON output (which
// escapes all of them but C1 and bidi, harmless inside a JSON string) stays exact.

/**
 * What a terminal obeys rather than shows: C0 controls but tab and line feed, DEL, C1 controls,
 * the bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and marks
 * (U+061C, U+200E, U+200F), and the Unicode line and paragraph separators.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Shown in place of each character a terminal would obey. */
export const REPLACEMENT = '\uFFFD';

/**
 * Output safe for a terminal, line ends and tabs kept: for whole blocks the CLI writes (its
 * tables and messages, which hold outside values already flattened with `inline`).
 */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, REPLACEMENT);
}

/**
 * A JSON line (a log line) whose strings hold no character a terminal would obey: JSON escapes
 * C0 controls but leaves C1, DEL and bidi controls as they are, so a Message-ID in a job id
 * reordered or drove whatever showed the log (`tail -f`, `less`). Each is written as its \u
 * escape, which every JSON reader reads back as the same character: the line means the same.
 * Only for serialized JSON (these characters can only be inside its strings).
 */
export function jsonLineSafe(line: string): string {
  return line.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Longest value `inline` returns unless told: a table cell, a name in a message. */
export const INLINE_MAX = 300;

/** Longest one-line text that ends its line (a table's last cell, an error message, a reason). */
export const LINE_END_MAX = 2000;

/**
 * One outside value for one line of output: terminal controls shown as U+FFFD, every run of
 * whitespace (line ends included) one space, and at most `max` characters (code points), cut
 * with an ellipsis. Work is bounded too: a megabyte of subject costs a few kilobytes here.
 */
export function inline(value: unknown, max = INLINE_MAX): string {
  const text = value === undefined || value === null ? '' : String(value);
  // Whitespace collapses and controls are replaced one for one, so the first 4 x max units
  // hold the first max characters of any value that is not mostly whitespace.
  const budget = Math.max(64, max * 4);
  const head = text.length > budget ? text.slice(0, budget) : text;
  const clean = terminalSafe(head.replace(/\s+/g, ' ')).trim();
  const chars = Array.from(clean);
  if (chars.length <= max && head.length === text.length) return clean;
  return chars.slice(0, Math.max(0, max - 1)).join('').trimEnd() + '…';
}

/**
 * A word for a POSIX shell (sh, bash, zsh) that stands for exactly `value`, for a command line
 * the CLI suggests to paste: single quotes, each `'` written `'\''`. Only for values that are
 * already safe to print (check with `isPlain`): a quoted newline is still a newline.
 */
export function shellWord(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** True when `inline` would print the value unchanged: no controls, no line ends, not cut. */
export function isPlain(value: string, max = INLINE_MAX): boolean {
  return inline(value, max) === value;
}
