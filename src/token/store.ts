// The workaround token in Redis, under the install's prefix:
//   <prefix>:token          hash  sealed token (AES-256-GCM, see crypto.ts) + metadata
//   <prefix>:token:version  int   bumped on every set/rotate (never reset, so a stale version
//                                 from before a `token clear` can never match a new token)
// Set and rotate replace the whole hash in one Lua script, so a reader sees the old token or
// the new one, never a mix. Jobs in flight finish on the old token or, if it was revoked,
// fail with AuthError tagged with the old version and retry on the new one (see gate.ts).
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';
import { associatedData, open, seal } from './crypto.js';
import type { SecretKey } from './key.js';

export function tokenKey(prefix: string): string {
  return key(prefix, 'token');
}
export function versionKey(prefix: string): string {
  return key(prefix, 'token', 'version');
}

export interface TokenCheckRecord {
  at: string;
  ok: boolean;
  /** One line a person can read: "ok", or what is missing / why it failed. */
  summary: string;
  /** Permission key → held, as last seen (global permissions, SITE_ADMIN, service desk admin...). */
  permissions: Record<string, boolean>;
}

export interface TokenMeta {
  email: string;
  accountId: string;
  displayName?: string;
  storedAt: string;
  expiresAt: string;
  version: number;
  /** Id of the key that sealed it (one-way; see key.ts). */
  keyId: string;
  lastCheck?: TokenCheckRecord;
}

export interface TokenCredentials {
  email: string;
  token: string;
  accountId: string;
  expiresAt: string;
  version: number;
}

export interface SaveTokenInput {
  token: string;
  email: string;
  accountId: string;
  displayName?: string;
  storedAt: Date;
  expiresAt: Date;
  check?: TokenCheckRecord;
}

/** No token has been stored (or it was cleared). */
export class NoTokenError extends Error {
  constructor() {
    super('no workaround token is stored: store one with `printf %s "$TOKEN" | mailroom token set --email <account email>`');
    this.name = 'NoTokenError';
  }
}

// KEYS[1] token hash, KEYS[2] version counter; ARGV field/value pairs. Returns the new version.
const SAVE = `
local v = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', v, unpack(ARGV))
return v`;

// KEYS[1] token hash; ARGV[1] version the check was made on, then field/value pairs.
// A check of a token that has since been replaced is not recorded against the new one.
const RECORD_CHECK = `
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1`;

function checkFields(c: TokenCheckRecord): string[] {
  return ['lastCheckAt', c.at, 'lastCheckOk', c.ok ? '1' : '0', 'lastCheckSummary', c.summary, 'permissions', JSON.stringify(c.permissions)];
}

/** Seal and store a token with its metadata, atomically replacing any previous one. Returns its version. */
export async function saveToken(redis: Redis, prefix: string, secretKey: SecretKey, input: SaveTokenInput): Promise<number> {
  const fields = [
    'sealed', seal(secretKey, input.token, associatedData(prefix)),
    'keyId', secretKey.id,
    'email', input.email,
    'accountId', input.accountId,
    'displayName', input.displayName ?? '',
    'storedAt', input.storedAt.toISOString(),
    'expiresAt', input.expiresAt.toISOString(),
    ...(input.check ? checkFields(input.check) : []),
  ];
  const v = await redis.eval(SAVE, 2, tokenKey(prefix), versionKey(prefix), ...fields);
  return Number(v);
}

export async function recordCheck(redis: Redis, prefix: string, version: number, check: TokenCheckRecord): Promise<boolean> {
  const r = await redis.eval(RECORD_CHECK, 1, tokenKey(prefix), String(version), ...checkFields(check));
  return Number(r) === 1;
}

/** Metadata only: no key needed, nothing secret returned. */
export async function readTokenMeta(redis: Redis, prefix: string): Promise<TokenMeta | undefined> {
  const h = await redis.hgetall(tokenKey(prefix));
  if (!h.sealed) return undefined;
  return metaOf(h);
}

function metaOf(h: Record<string, string>): TokenMeta {
  let permissions: Record<string, boolean>;
  try {
    permissions = h.permissions ? (JSON.parse(h.permissions) as Record<string, boolean>) : {};
  } catch {
    permissions = {};
  }
  return {
    email: h.email ?? '',
    accountId: h.accountId ?? '',
    displayName: h.displayName || undefined,
    storedAt: h.storedAt ?? '',
    expiresAt: h.expiresAt ?? '',
    version: Number(h.version ?? 0),
    keyId: h.keyId ?? '',
    lastCheck: h.lastCheckAt
      ? { at: h.lastCheckAt, ok: h.lastCheckOk === '1', summary: h.lastCheckSummary ?? '', permissions }
      : undefined,
  };
}

/**
 * The stored token, decrypted. Throws NoTokenError when none is stored, WrongKeyError /
 * TamperedError (crypto.ts) when it cannot be read with `secretKey`.
 */
export async function readTokenCredentials(redis: Redis, prefix: string, secretKey: SecretKey): Promise<TokenCredentials & { meta: TokenMeta }> {
  const h = await redis.hgetall(tokenKey(prefix));
  if (!h.sealed) throw new NoTokenError();
  const meta = metaOf(h);
  const token = open(secretKey, h.sealed, associatedData(prefix));
  return { email: meta.email, token, accountId: meta.accountId, expiresAt: meta.expiresAt, version: meta.version, meta };
}

/** Remove the stored token (the version counter stays, so old versions never match again). */
export async function clearToken(redis: Redis, prefix: string): Promise<boolean> {
  return (await redis.del(tokenKey(prefix))) > 0;
}
