// One pino root logger for the process. Secrets are kept out of logs twice over: by field
// redaction (authorization headers, tokens, passwords), and by scrubbing any registered
// secret value (and its Basic-auth form) from every line before it is written.
import { pino, type Logger, type DestinationStream } from 'pino';
import pinoPretty from 'pino-pretty';
import { jsonLineSafe } from './terminal-text.js';

export type { Logger } from 'pino';

const REDACT_PATHS = [
  'authorization',
  'Authorization',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'password',
  '*.password',
  'pass',
  '*.pass',
  'token',
  '*.token',
  'apiToken',
  '*.apiToken',
  'secret',
  '*.secret',
  'secretKey',
  '*.secretKey',
];

const secrets = new Set<string>();

/** Register a secret value: it will be replaced by [REDACTED] wherever it appears in a log line. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < 6) return; // too short to scrub without mangling ordinary text
  secrets.add(value);
  secrets.add(JSON.stringify(value).slice(1, -1)); // as it appears inside a JSON string
}

/** Register the `email:token` pair of a Basic-auth header, in plain and base64 form. */
export function registerBasicAuth(email: string, token: string): void {
  registerSecret(token);
  registerSecret(Buffer.from(`${email}:${token}`).toString('base64'));
}

export function scrubSecrets(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[REDACTED]');
  return out;
}

export interface LoggerOptions {
  level?: string;
  name?: string;
  destination?: DestinationStream;
  /** Human-readable lines (pino-pretty) instead of JSON: for a person at a terminal. */
  pretty?: boolean;
}

/**
 * Pretty when asked (--pretty), or when stderr is a terminal; JSON otherwise, so a log
 * collector always gets one JSON object per line. `--no-pretty` forces JSON at a terminal.
 */
export function wantPretty(argv: readonly string[], stderrIsTTY = !!process.stderr.isTTY): boolean {
  if (argv.includes('--no-pretty')) return false;
  return argv.includes('--pretty') || stderrIsTTY;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'mailroom',
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: {
        // Job ids hold Message-IDs: their C1 and bidi controls are written as \u escapes.
        streamWrite: (line) => jsonLineSafe(scrubSecrets(line)),
      },
    },
    // Secrets are scrubbed from the JSON line (streamWrite) before pino-pretty reads it.
    opts.destination ??
      (opts.pretty
        ? pinoPretty({ destination: 2, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
        : pino.destination({ fd: 2, sync: false })),
  );
}

/** A logger that writes nothing: for pure units and CLI commands that print their own output. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * A logger for one role's lines: `role` bound once. A process that runs a single role binds it
 * on its root logger already (src/roles/runtime.ts); binding it again would write the key twice
 * (pino does not merge bindings), and `role=poller` filters would miss the line.
 */
export function withRole(logger: Logger, role: string): Logger {
  return 'role' in logger.bindings() ? logger : logger.child({ role });
}
