// The CLI's own output: results to stdout, problems to stderr. Library code logs through pino;
// only the CLI writes to the terminal directly.
import { ConfigError, describeError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';
import { inline, INLINE_MAX, LINE_END_MAX, terminalSafe } from '../core/terminal-text.js';

/** Exit codes scripts can rely on: the one table for commands and roles (docs/exit-codes.md). */
export { EXIT };

// Every line the CLI prints goes through terminalSafe (src/core/terminal-text.ts): a value from
// outside (a mail's subject in a table, a pasted job id) must not retitle the terminal, write
// the clipboard or overwrite a line. Line ends and tabs are kept here, so each outside value is
// also flattened where it is put into a line (`inline`, and every cell of `table`): a newline in
// a Message-ID must not forge a row. JSON output escapes what matters already.
export { inline } from '../core/terminal-text.js';

export function out(text = ''): void {
  process.stdout.write(terminalSafe(text) + '\n');
}

export function err(text: string): void {
  process.stderr.write(terminalSafe(text) + '\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Longest last cell of a table row (nothing after it is padded to its width). */
export const LAST_CELL_MAX = LINE_END_MAX;

/**
 * A plain text table: columns sized to their widest cell. Every cell is one line of at most
 * INLINE_MAX characters (the last LAST_CELL_MAX), whatever it holds: a newline cannot add a row,
 * and one huge value cannot widen every row of the table.
 */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cell = (c: string | number | undefined, i: number, n: number) => inline(c, i === n - 1 ? LAST_CELL_MAX : INLINE_MAX);
  const cells = [headers, ...rows].map((r) => r.map((c, i) => cell(c, i, r.length)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}

/** Print an error the way a person can act on it, and return the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof ConfigError) {
    err(e.message);
    return EXIT.usage;
  }
  if (e instanceof CliError) {
    // One line: a refusal may name a mail by its Message-ID, which is outside text.
    err(`mailroom: ${inline(e.message, LAST_CELL_MAX)}`);
    return e.exitCode;
  }
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ECONNREFUSED' || /ECONNREFUSED|Connection is closed|connect ETIMEDOUT/.test(describeError(e))) {
    err(`mailroom: cannot reach a required service (${inline(describeError(e), LAST_CELL_MAX)}). Is Redis running at REDIS_URL?`);
    return EXIT.unavailable;
  }
  err(`mailroom: ${inline(describeError(e), LAST_CELL_MAX)}`);
  if (process.env.MAILROOM_DEBUG && e instanceof Error && e.stack) err(e.stack);
  return EXIT.failed;
}
