import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { associatedData, open, seal, TamperedError, WrongKeyError } from '../../src/token/crypto.js';
import { keyId, loadSecretKey, SecretKeyError } from '../../src/token/key.js';

const b64 = () => randomBytes(32).toString('base64');
const TOKEN = 'ATATT3xFfGF0-sample_token-value=ABCD1234';

describe('loadSecretKey', () => {
  it('accepts 32 bytes of base64 from the environment, and url-safe base64', () => {
    const raw = randomBytes(32);
    expect(loadSecretKey({ base64: raw.toString('base64') }).bytes.equals(raw)).toBe(true);
    expect(loadSecretKey({ base64: raw.toString('base64url') }).bytes.equals(raw)).toBe(true);
  });

  it('refuses a key of the wrong length, saying how to make one', () => {
    expect(() => loadSecretKey({ base64: randomBytes(16).toString('base64') })).toThrow(/decodes to 16 bytes.*exactly 32.*openssl rand -base64 32/);
  });

  it('refuses text that is not base64', () => {
    expect(() => loadSecretKey({ base64: 'not a key!' })).toThrow(SecretKeyError);
    expect(() => loadSecretKey({ base64: 'not a key!' })).toThrow(/not base64/);
  });

  it('refuses no key, and two keys', () => {
    expect(() => loadSecretKey({})).toThrow(/no encryption key.*openssl rand -base64 32/);
    expect(() => loadSecretKey({ base64: b64(), file: '/x' })).toThrow(/keep only one/);
  });

  it('gives different keys different ids, and the id does not contain the key', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    expect(keyId(a)).not.toBe(keyId(b));
    expect(keyId(a)).toHaveLength(16);
    expect(a.toString('hex')).not.toContain(keyId(a));
  });
});

describe('seal / open', () => {
  const key = loadSecretKey({ base64: b64() });
  const aad = associatedData('{mailroom}');

  it('round-trips, never shows the plaintext, and uses a fresh IV each write', () => {
    const s1 = seal(key, TOKEN, aad);
    const s2 = seal(key, TOKEN, aad);
    expect(open(key, s1, aad)).toBe(TOKEN);
    expect(s1).not.toContain(TOKEN);
    expect(s1).not.toContain(Buffer.from(TOKEN).toString('base64'));
    expect(JSON.parse(s1).iv).not.toBe(JSON.parse(s2).iv);
    expect(Buffer.from(JSON.parse(s1).iv, 'base64')).toHaveLength(12);
    expect(s1).not.toBe(s2);
  });

  it('says "encrypted with another key" for a different key, never garbage', () => {
    const other = loadSecretKey({ base64: b64() });
    const s = seal(key, TOKEN, aad);
    expect(() => open(other, s, aad)).toThrow(WrongKeyError);
    expect(() => open(other, s, aad)).toThrow(/the stored token was encrypted with another key/);
  });

  it('rejects a flipped ciphertext bit, a changed tag or IV, and a value moved to another prefix', () => {
    const s = JSON.parse(seal(key, TOKEN, aad)) as Record<string, string>;
    const flip = (b64s: string) => {
      const b = Buffer.from(b64s, 'base64');
      b[0] = b[0]! ^ 1;
      return b.toString('base64');
    };
    for (const field of ['ct', 'tag', 'iv']) {
      const bad = JSON.stringify({ ...s, [field]: flip(s[field]!) });
      expect(() => open(key, bad, aad)).toThrow(TamperedError);
    }
    expect(() => open(key, JSON.stringify(s), associatedData('{other-install}'))).toThrow(/integrity check/);
    expect(() => open(key, 'garbage', aad)).toThrow(TamperedError);
    // A forged key id does not turn tampering into a readable value either.
    const other = loadSecretKey({ base64: b64() });
    expect(() => open(other, JSON.stringify({ ...s, kid: other.id }), aad)).toThrow(TamperedError);
  });
});
