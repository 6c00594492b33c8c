// The CLI's own output: results to stdout, problems to stderr. Library code logs through pino;
// only the CLI writes to the terminal directly.
import { ConfigError, describeError } from '../core/errors.js';
import { EXIT } from '../core/exit-codes.js';

/** Exit codes scripts can rely on: the one table for commands and roles (docs/exit-codes.md). */
export { EXIT };

// Terminal control characters (ESC sequences, CR, C1), never line ends or tabs: what the CLI
// prints carries values from outside (a pasted job id, a mail's subject in a table), and a
// value must not retitle the terminal or overwrite a line (an outside attack pass). JSON output
// escapes them already.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const visible = (text: string) => text.replace(CONTROL, '\uFFFD');

export function out(text = ''): void {
  process.stdout.write(visible(text) + '\n');
}

export function err(text: string): void {
  process.stderr.write(visible(text) + '\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** A plain text table: columns sized to their widest cell. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))];
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
    err(`mailroom: ${e.message}`);
    return e.exitCode;
  }
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ECONNREFUSED' || /ECONNREFUSED|Connection is closed|connect ETIMEDOUT/.test(describeError(e))) {
    err(`mailroom: cannot reach a required service (${describeError(e)}). Is Redis running at REDIS_URL?`);
    return EXIT.unavailable;
  }
  err(`mailroom: ${describeError(e)}`);
  if (process.env.MAILROOM_DEBUG && e instanceof Error && e.stack) err(e.stack);
  return EXIT.failed;
}
