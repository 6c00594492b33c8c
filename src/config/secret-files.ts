// The `X_FILE` form of every secret variable: X_FILE names a file whose content is X's value,
// so containers and unit files hand a role its secrets as files (compose `secrets:`, systemd
// `LoadCredential=`) instead of environment values any `docker inspect` shows. One trailing
// newline is trimmed (editors and `echo` add one); anything else in the file is the value.
// Setting both X and X_FILE is an error: there must be no doubt which value is in use.
// MAILROOM_SECRET_KEY_FILE is not handled here: src/token/key.ts reads it (it may hold raw bytes).
import { readFileSync } from 'node:fs';

type Env = Record<string, string | undefined>;
type Problems = { path: string; message: string }[];

/** Secret variables read by name whatever the configuration says (the rest are named in it). */
export const FIXED_SECRET_VARS = [
  'MAILROOM_WEB_PASSWORD',
  'MAILROOM_WEB_READONLY_PASSWORD',
  'REDIS_URL',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
] as const;

/**
 * Every environment variable the configuration names for a secret: the value of each key that
 * ends in `Env` (imap.passwordEnv, smtp.passwordEnv, auth.clientSecretEnv, refreshTokenEnv,
 * privateKeyEnv, serviceAccountKeyEnv, notifications.webhookSecretEnv, and any added later).
 */
export function secretVarsNamedIn(config: unknown): string[] {
  const names = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) {
        if (k.endsWith('Env') && typeof inner === 'string') names.add(inner);
        else walk(inner);
      }
    }
  };
  walk(config);
  return [...names];
}

/** The environment with each named secret's `_FILE` form read into it; problems name the variable. */
export function withSecretFiles(env: Env, names: readonly string[], problems: Problems): Env {
  const out: Env = { ...env };
  for (const name of new Set(names)) {
    if (name === 'MAILROOM_SECRET_KEY') continue;
    const fileVar = `${name}_FILE`;
    const file = env[fileVar];
    if (!file) continue;
    if (env[name]) {
      problems.push({ path: fileVar, message: `both ${name} and ${fileVar} are set: keep only one, so there is no doubt which value is in use` });
      continue;
    }
    const value = readSecretFile(file, fileVar, problems);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function readSecretFile(file: string, fileVar: string, problems: Problems): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    problems.push({ path: fileVar, message: `cannot read ${file} (${fileVar}): ${why}` });
    return undefined;
  }
  const value = text.replace(/\r?\n$/, '');
  if (!value) {
    problems.push({ path: fileVar, message: `${file} (${fileVar}) is empty: put the secret in it` });
    return undefined;
  }
  return value;
}
