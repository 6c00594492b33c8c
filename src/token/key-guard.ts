// `token set` / `token rotate` with another key than the one the stored token was sealed with
// would store a token no running worker can read (they hold the old key): every job would
// then fail on "encrypted with another key" while the command said ok. Changing the key is
// allowed, but only when asked for.
import type { SecretKey } from './key.js';
import type { TokenMeta } from './store.js';

export class OtherKeyError extends Error {
  constructor(readonly storedKeyId: string, readonly currentKeyId: string) {
    super(
      `not stored: the stored token was sealed with key id ${storedKeyId}, and this command has key id ${currentKeyId}. ` +
        'Running roles hold the key the token was stored with, so a token sealed with this one would fail every job. ' +
        'Run the command with the key in use (MAILROOM_SECRET_KEY or MAILROOM_SECRET_KEY_FILE); ' +
        'or, to change the key on purpose, pass --new-key and then restart every role with the new key',
    );
    this.name = 'OtherKeyError';
  }
}

/** Throws OtherKeyError when a token is stored under another key id and the change was not asked for. */
export function refuseOtherKey(previous: Pick<TokenMeta, 'keyId'> | undefined, key: Pick<SecretKey, 'id'>, newKey: boolean): void {
  if (!previous?.keyId || previous.keyId === key.id || newKey) return;
  throw new OtherKeyError(previous.keyId, key.id);
}
