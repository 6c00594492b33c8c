// The key that encrypts the workaround token at rest: 32 random bytes, from MAILROOM_SECRET_KEY
// (base64) or MAILROOM_SECRET_KEY_FILE (base64 text, or the 32 raw bytes). It is never written
// to Redis, logs or job data; only a one-way key id (an HMAC of a constant) sits beside the
// ciphertext, so a wrong key is named as such instead of reading as tampering.
import { createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { EXIT } from '../core/exit-codes.js';

export const KEY_BYTES = 32;

const HOW_TO_MAKE =
  'generate one with `openssl rand -base64 32` and put it in MAILROOM_SECRET_KEY, ' +
  'or in a file (mode 600) named by MAILROOM_SECRET_KEY_FILE';

/** The key is missing or unusable; the message says what to do. */
export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

/**
 * This process's key is not the one the stored token was sealed with. Such a process must not
 * run: every job it took would fail to decrypt, and it must not pause the install's shared
 * queues for a fault that is its own.
 */
export class KeyMismatchError extends SecretKeyError {
  constructor(
    readonly currentKeyId: string,
    readonly storedKeyId: string,
    source: string,
  ) {
    super(
      `this process's encryption key (${source}, key id ${currentKeyId}) cannot decrypt the stored workaround token, ` +
        `which needs key id ${storedKeyId}: start it with the key the other Mailroom processes use, ` +
        'or store the token again with `mailroom token set` (then every process needs the new key)',
    );
    this.name = 'KeyMismatchError';
  }
}

/**
 * Exit status of a process refused for its key: 2, the class of a bad configuration or key
 * (src/core/exit-codes.ts; a missing key file and a wrong key are one class). It was 78.
 */
export const KEY_MISMATCH_EXIT = EXIT.usage;

export interface SecretKey {
  bytes: Buffer;
  /** Short, one-way identifier of the key (safe to store and print). */
  id: string;
  /** Where it came from, for messages: "MAILROOM_SECRET_KEY" or the file path. */
  source: string;
  /** Things worth telling an operator (e.g. a key file others can read). */
  warnings: string[];
}

export interface SecretKeySource {
  base64?: string;
  file?: string;
}

export function loadSecretKey(src: SecretKeySource): SecretKey {
  if (src.base64 && src.file) {
    throw new SecretKeyError('both MAILROOM_SECRET_KEY and MAILROOM_SECRET_KEY_FILE are set: keep only one, so there is no doubt which key is in use');
  }
  if (src.base64) return fromBase64(src.base64, 'MAILROOM_SECRET_KEY', []);
  if (src.file) return fromFile(src.file);
  throw new SecretKeyError(`no encryption key for the workaround token: ${HOW_TO_MAKE}`);
}

function fromFile(path: string): SecretKey {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied (the key file must be readable by the user Mailroom runs as)' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new SecretKeyError(`cannot read the key file ${path} (MAILROOM_SECRET_KEY_FILE): ${why}; ${HOW_TO_MAKE}`);
  }
  const warnings: string[] = [];
  try {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) warnings.push(`the key file ${path} is readable by others (mode ${mode.toString(8)}): chmod 600 it`);
  } catch {
    // stat after a successful read failing is a race not worth failing for
  }
  // Exactly 32 bytes that are not plausible base64 text: the raw key itself.
  if (raw.length === KEY_BYTES && !/^[A-Za-z0-9+/=_-]+$/.test(raw.toString('latin1'))) {
    return { bytes: Buffer.from(raw), id: keyId(raw), source: path, warnings };
  }
  return fromBase64(raw.toString('utf8'), `the key file ${path}`, warnings, path);
}

function fromBase64(text: string, where: string, warnings: string[], source = where): SecretKey {
  const t = text.trim();
  if (!t) throw new SecretKeyError(`${where} is empty: ${HOW_TO_MAKE}`);
  // Standard or URL-safe alphabet, padding optional; anything else is a typo or the wrong value.
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) {
    throw new SecretKeyError(`${where} is not base64 (it holds characters outside A-Z a-z 0-9 + / =): ${HOW_TO_MAKE}`);
  }
  const bytes = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length !== KEY_BYTES) {
    throw new SecretKeyError(`${where} decodes to ${bytes.length} bytes; the key must be exactly ${KEY_BYTES} bytes: ${HOW_TO_MAKE}`);
  }
  return { bytes, id: keyId(bytes), source, warnings };
}

/** A one-way id of a key: HMAC of a fixed label, 8 bytes hex. Reveals nothing about the key. */
export function keyId(bytes: Buffer): string {
  return createHmac('sha256', bytes).update('mailroom token key id v1').digest('hex').slice(0, 16);
}
