// Where the shared corpora of real mail are: MAILROOM_CORPUS_DIR, or ../shared/corpora beside
// the checkout. Tests that need them skip with a visible notice when absent.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export function corpusDir(): string | undefined {
  const candidates = [process.env.MAILROOM_CORPUS_DIR, resolve(process.cwd(), '..', 'shared', 'corpora')];
  return candidates.find((d): d is string => !!d && existsSync(d));
}

export function corpusPath(...parts: string[]): string | undefined {
  const d = corpusDir();
  if (!d) return undefined;
  const p = join(d, ...parts);
  return existsSync(p) ? p : undefined;
}

export function specsDir(): string | undefined {
  const candidates = [process.env.MAILROOM_SPECS_DIR, resolve(process.cwd(), '..', 'shared', 'specs')];
  return candidates.find((d): d is string => !!d && existsSync(d));
}

export function notice(text: string): void {
  process.stderr.write(`NOTICE: ${text}\n`);
}
