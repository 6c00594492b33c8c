// AES-256-GCM sealing of the workaround token. A fresh random 12-byte IV per write; the
// 16-byte tag is checked on every read; the associated data binds the ciphertext to the
// install (Redis prefix) and its purpose, so a value copied to another install or another
// key does not decrypt. The stored form is JSON with base64 fields and the key id.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SecretKey } from './key.js';

const ALG = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface Sealed {
  v: 1;
  alg: 'A256GCM';
  /** Id of the key that sealed it (see key.ts keyId): tells "another key" from "tampered". */
  kid: string;
  iv: string;
  tag: string;
  ct: string;
}

/** The stored token cannot be read with this key. */
export class WrongKeyError extends Error {
  constructor(readonly storedKeyId: string, readonly currentKeyId: string) {
    super(
      'the stored token was encrypted with another key ' +
        `(stored with key id ${storedKeyId}, this process has key id ${currentKeyId}): ` +
        'start Mailroom with the key that was in use when the token was stored, ' +
        'or store the token again with `mailroom token set`',
    );
    this.name = 'WrongKeyError';
  }
}

/** The stored value fails its integrity check: altered, truncated, or moved from another install. */
export class TamperedError extends Error {
  constructor(detail: string) {
    super(
      `the stored token failed its integrity check (${detail}): it was altered or copied from another install; ` +
        'store it again with `mailroom token set`',
    );
    this.name = 'TamperedError';
  }
}

/** Associated data: what the ciphertext is, and for which install. */
export function associatedData(prefix: string, purpose = 'workaround-token'): Buffer {
  return Buffer.from(`mailroom|${purpose}|v1|${prefix}`, 'utf8');
}

export function seal(key: SecretKey, plaintext: string, aad: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALG, key.bytes, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const sealed: Sealed = {
    v: 1,
    alg: 'A256GCM',
    kid: key.id,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ct: ct.toString('base64'),
  };
  return JSON.stringify(sealed);
}

export function open(key: SecretKey, stored: string, aad: Buffer): string {
  let s: Partial<Sealed>;
  try {
    s = JSON.parse(stored) as Partial<Sealed>;
  } catch {
    throw new TamperedError('not a sealed value');
  }
  if (s.v !== 1 || s.alg !== 'A256GCM' || typeof s.iv !== 'string' || typeof s.tag !== 'string' || typeof s.ct !== 'string') {
    throw new TamperedError('unknown format');
  }
  if (typeof s.kid === 'string' && s.kid !== key.id) throw new WrongKeyError(s.kid, key.id);
  const iv = Buffer.from(s.iv, 'base64');
  const tag = Buffer.from(s.tag, 'base64');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new TamperedError('bad IV or tag length');
  const decipher = createDecipheriv(ALG, key.bytes, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(Buffer.from(s.ct, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    // Same key id but the tag does not verify: the ciphertext, IV, tag or binding changed.
    throw new TamperedError('authentication tag mismatch');
  }
}
