// Rotated refresh tokens, kept encrypted in Redis so a restart does not fall back to the one in
// the environment that the provider has since invalidated (servers with refresh-token rotation
// accept each one once). Sealed with the workaround token's key and crypto (AES-256-GCM, the
// AAD binds it to this install and this auth block):
//   <prefix>:oauth:refresh:<imap:ID | smtp>   sealed JSON { from, token }
// `from` is a one-way id of the configured (environment) refresh token it descends from: when
// an operator puts a new refresh token in the environment, the stored chain is ignored.
import { createHash } from 'node:crypto';
import { key, type Redis } from '../core/redis.js';
import { associatedData, open, seal } from '../token/crypto.js';
import type { SecretKey } from '../token/key.js';

export interface RefreshStore {
  load(): Promise<string | undefined>;
  save(token: string): Promise<void>;
}

export function refreshKey(prefix: string, authKey: string): string {
  return key(prefix, 'oauth', 'refresh', authKey);
}

function lineage(configured: string): string {
  return createHash('sha256').update(`mailroom oauth refresh v1|${configured}`).digest('hex').slice(0, 16);
}

export function redisRefreshStore(redis: Redis, prefix: string, secretKey: SecretKey, authKey: string, configured: string): RefreshStore {
  const k = refreshKey(prefix, authKey);
  const aad = associatedData(prefix, `oauth-refresh-token|${authKey}`);
  const from = lineage(configured);
  return {
    async load() {
      const stored = await redis.get(k);
      if (!stored) return undefined;
      const v = JSON.parse(open(secretKey, stored, aad)) as { from?: string; token?: string };
      return v.from === from && typeof v.token === 'string' ? v.token : undefined;
    },
    async save(token) {
      await redis.set(k, seal(secretKey, JSON.stringify({ from, token }), aad));
    },
  };
}
