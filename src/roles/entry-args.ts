// The arguments every role entry (workers/*.ts, `mailroom start`) takes. Unknown arguments are
// refused with exit 2: a unit file with a typo (`-config`) must not start a live consumer on
// whatever MAILROOM_CONFIG names. Parsed with node:util's parseArgs (strict), not by hand.
import { parseArgs } from 'node:util';
import { EXIT } from '../core/exit-codes.js';

export interface EntryArgs {
  config?: string;
  /** true/false when --pretty/--no-pretty was given; undefined: the terminal decides. */
  pretty?: boolean;
  noAuth: boolean;
}

export type EntryParse = { run: EntryArgs } | { exit: number; stdout?: string; stderr?: string };

export interface EntrySpec {
  /** The web role (and `all`) take --no-auth. */
  noAuth?: boolean;
  version: string;
}

export function entryUsage(role: string, spec: Pick<EntrySpec, 'noAuth'>): string {
  return [
    `usage: node dist/workers/${role}.js [options]`,
    '',
    `Runs Mailroom's ${role} role until SIGTERM/SIGINT.`,
    '',
    'options:',
    '  -c, --config <path>  configuration file (default: $MAILROOM_CONFIG or ./mailroom.yml)',
    '  --pretty             human-readable log lines (the default when stderr is a terminal)',
    '  --no-pretty          JSON log lines even at a terminal',
    ...(spec.noAuth ? ['  --no-auth            the board without credentials (allowed only on loopback)'] : []),
    '  -V, --version        print the version and exit',
    '  -h, --help           print this help and exit',
    '',
    'Exit codes: 0 stopped cleanly, 1 could not start (may pass: restart), 2 bad arguments,',
    'configuration or key (fix it first), 70 a bug. See docs/exit-codes.md.',
  ].join('\n');
}

export function parseEntryArgs(role: string, argv: readonly string[], spec: EntrySpec): EntryParse {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
        pretty: { type: 'boolean' },
        'no-pretty': { type: 'boolean' },
        ...(spec.noAuth ? { 'no-auth': { type: 'boolean' as const } } : {}),
      },
    }));
  } catch (e) {
    return { exit: EXIT.usage, stderr: `mailroom ${role}: ${(e as Error).message}\n\n${entryUsage(role, spec)}\n` };
  }
  if (values.help) return { exit: EXIT.ok, stdout: entryUsage(role, spec) + '\n' };
  if (values.version) return { exit: EXIT.ok, stdout: spec.version + '\n' };
  if (values.pretty && values['no-pretty']) return { exit: EXIT.usage, stderr: `mailroom ${role}: --pretty and --no-pretty contradict each other: keep one\n` };
  if (values.config === '') return { exit: EXIT.usage, stderr: `mailroom ${role}: --config needs a file path\n` };
  const pretty = values.pretty ? true : values['no-pretty'] ? false : undefined;
  return { run: { config: values.config as string | undefined, pretty, noAuth: values['no-auth'] === true } };
}
