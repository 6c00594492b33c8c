// The one way end-to-end tests run `mailroom`: the real CLI in a child process, from the
// sources (tsx), so each test sees what an operator sees: exit code, stdout and stderr.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** `--config <file>` before the arguments; omitted when undefined. */
  config?: string;
  /** The child's whole environment (callers start from process.env). */
  env: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed (a prompt's answer). */
  stdin?: string;
  timeoutMs?: number;
  /** Most bytes kept of stdout or stderr (execFile's default is 1 MiB; past it the child is killed). */
  maxBuffer?: number;
}

/** Runs `mailroom <args>`; resolves with the exit code (1 when killed by the timeout). */
export function runCli(args: string[], opts: CliOptions): Promise<CliRun> {
  const argv = ['--import', 'tsx', 'src/cli/main.ts', ...(opts.config === undefined ? [] : ['--config', opts.config]), ...args];
  return new Promise((done) => {
    const child = execFile(process.execPath, argv, { cwd: ROOT, env: opts.env, timeout: opts.timeoutMs ?? 60_000, ...(opts.maxBuffer ? { maxBuffer: opts.maxBuffer } : {}) }, (error, stdout, stderr) =>
      done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(opts.stdin ?? '');
  });
}
