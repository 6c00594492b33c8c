// The token at rest, in a real Redis: never in plaintext anywhere under the prefix, rejected
// when tampered with or read with another key, replaced atomically.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { loadSecretKey } from '../../src/token/key.js';
import { clearToken, readTokenCredentials, readTokenMeta, recordCheck, saveToken, tokenKey } from '../../src/token/store.js';
import { loadTokenCredentials } from '../../src/token/source.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { assertNoSecretUnder } from './token-scan.js';

const redis = testRedis();
let prefix = uniquePrefix('token-store');
const key = loadSecretKey({ base64: randomBytes(32).toString('base64') });
const TOKEN = `ATATT3x${randomBytes(24).toString('hex')}`;
const EMAIL = 'bot@acme.example';
const input = (token = TOKEN) => ({
  token,
  email: EMAIL,
  accountId: 'acc-1',
  displayName: 'Bot',
  storedAt: new Date('2026-11-28T00:00:00Z'),
  expiresAt: new Date('2027-11-28T00:00:00Z'),
});

beforeEach(async () => {
  await dropPrefix(redis, prefix);
  prefix = uniquePrefix('token-store');
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  await redis.quit();
});

describe('token store', () => {
  it('stores the token encrypted: no key, value, field or member under the prefix holds it', async () => {
    await saveToken(redis, prefix, key, input());
    await recordCheck(redis, prefix, 1, { at: 'now', ok: true, summary: 'ok', permissions: { USER_PICKER: true } });
    const scanned = await assertNoSecretUnder(redis, prefix, [TOKEN], EMAIL);
    expect(scanned).toBeGreaterThanOrEqual(1);
    // ...and the key itself is nowhere either.
    await assertNoSecretUnder(redis, prefix, [key.bytes.toString('base64'), key.bytes.toString('hex')], EMAIL);
    const back = await readTokenCredentials(redis, prefix, key);
    expect(back).toMatchObject({ token: TOKEN, email: EMAIL, accountId: 'acc-1', version: 1, expiresAt: '2027-11-28T00:00:00.000Z' });
    expect(await loadTokenCredentials(redis, { prefix, secretKey: { base64: key.bytes.toString('base64') } })).toMatchObject({ token: TOKEN });
  });

  it('the scan does find a secret hidden in any value type (so its silence above means something)', async () => {
    for (const plant of [
      () => redis.rpush(`${prefix}:l`, 'x', `a${TOKEN}b`),
      () => redis.zadd(`${prefix}:z`, 1, Buffer.from(TOKEN).toString('base64')),
      () => redis.xadd(`${prefix}:s`, '*', 'auth', Buffer.from(`${EMAIL}:${TOKEN}`).toString('base64')),
      () => redis.hset(`${prefix}:h`, TOKEN, 'x'),
    ]) {
      await dropPrefix(redis, prefix);
      await plant();
      await expect(assertNoSecretUnder(redis, prefix, [TOKEN], EMAIL)).rejects.toThrow(/secret found/);
    }
  });

  it('refuses to read with another key, saying so', async () => {
    await saveToken(redis, prefix, key, input());
    const other = loadSecretKey({ base64: randomBytes(32).toString('base64') });
    await expect(readTokenCredentials(redis, prefix, other)).rejects.toThrow(/the stored token was encrypted with another key/);
  });

  it('rejects a tampered ciphertext and a value copied from another install', async () => {
    await saveToken(redis, prefix, key, input());
    const sealed = JSON.parse((await redis.hget(tokenKey(prefix), 'sealed'))!) as Record<string, string>;
    const ct = Buffer.from(sealed.ct!, 'base64');
    ct[ct.length - 1] = ct[ct.length - 1]! ^ 0x40;
    await redis.hset(tokenKey(prefix), 'sealed', JSON.stringify({ ...sealed, ct: ct.toString('base64') }));
    await expect(readTokenCredentials(redis, prefix, key)).rejects.toThrow(/integrity check/);

    const elsewhere = uniquePrefix('token-store-other');
    await saveToken(redis, elsewhere, key, input());
    await redis.hset(tokenKey(prefix), 'sealed', (await redis.hget(tokenKey(elsewhere), 'sealed'))!);
    await expect(readTokenCredentials(redis, prefix, key)).rejects.toThrow(/integrity check/);
    await dropPrefix(redis, elsewhere);
  });

  it('replaces a token atomically: a reader always sees a token with its own version', async () => {
    const tokens = Array.from({ length: 40 }, (_, i) => `tok-${i}-${randomBytes(8).toString('hex')}`);
    await saveToken(redis, prefix, key, input(tokens[0]));
    const reader = testRedis();
    const seen: { token: string; version: number }[] = [];
    let writing = true;
    const reading = (async () => {
      while (writing) {
        const c = await readTokenCredentials(reader, prefix, key);
        seen.push({ token: c.token, version: c.version });
      }
    })();
    for (const t of tokens.slice(1)) await saveToken(redis, prefix, key, input(t));
    writing = false;
    await reading;
    await reader.quit();
    expect(seen.length).toBeGreaterThan(10);
    for (const s of seen) expect(s.token).toBe(tokens[s.version - 1]);
  });

  it('records a check only against the version it was made on; clear keeps the version counter', async () => {
    await saveToken(redis, prefix, key, input());
    await saveToken(redis, prefix, key, input('second-token-value'));
    expect(await recordCheck(redis, prefix, 1, { at: 't', ok: false, summary: 'old', permissions: {} })).toBe(false);
    expect(await recordCheck(redis, prefix, 2, { at: 't', ok: true, summary: 'fine', permissions: { ADMINISTER: true } })).toBe(true);
    expect((await readTokenMeta(redis, prefix))?.lastCheck).toEqual({ at: 't', ok: true, summary: 'fine', permissions: { ADMINISTER: true } });
    expect(await clearToken(redis, prefix)).toBe(true);
    expect(await readTokenMeta(redis, prefix)).toBeUndefined();
    await expect(readTokenCredentials(redis, prefix, key)).rejects.toThrow(/no workaround token is stored.*token set/);
    expect(await saveToken(redis, prefix, key, input())).toBe(3);
  });
});
