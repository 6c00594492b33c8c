// Where each store keeps a mail's companion (companion.ts), beside the raw mail whose key or
// path stays as it was. Filesystem: a directory `<raw path>.content/` holding content.json and
// one file per attachment (0, 1, ...), renamed into place whole. Redis: one hash
// `<prefix>:mail:content:<sha>` (fields json, bytes, 0, 1, ...), written by one HSET. Neither
// is fsynced or checked beyond its sizes: a torn companion reads as absent (see companion.ts).
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from '../core/redis.js';
import { blobCount, decodeCompanion, encodeCompanion } from './companion.js';
import type { MailContent } from './content.js';

const JSON_FILE = 'content.json';

export function fsCompanionDir(rawPath: string): string {
  return `${rawPath}.content`;
}

export async function fsPutCompanion(rawPath: string, content: MailContent, tempName: (path: string) => string): Promise<void> {
  const dir = fsCompanionDir(rawPath);
  if (await isThere(dir)) return;
  const tmp = tempName(dir);
  await mkdir(tmp, { recursive: true });
  try {
    const { json, blobs } = encodeCompanion(content);
    for (const [i, blob] of blobs.entries()) await writeFile(join(tmp, String(i)), blob);
    await writeFile(join(tmp, JSON_FILE), json);
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    // Another put of the same mail got there first: its companion is this one.
    if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw e;
  }
}

export async function fsGetCompanion(rawPath: string): Promise<MailContent | undefined> {
  const dir = fsCompanionDir(rawPath);
  const json = await readFile(join(dir, JSON_FILE), 'utf8').catch(absentOnEnoent);
  if (json === undefined) return undefined;
  const count = blobCount(json);
  if (count === undefined) return undefined;
  const blobs: (Buffer | undefined)[] = [];
  for (let i = 0; i < count; i++) blobs.push(await readFile(join(dir, String(i))).catch(absentOnEnoent));
  return decodeCompanion(json, blobs);
}

/** Bytes the companion takes (0 when there is none). */
export async function fsCompanionBytes(rawPath: string): Promise<number> {
  const dir = fsCompanionDir(rawPath);
  const names = await readdir(dir).catch(() => [] as string[]);
  let bytes = 0;
  for (const name of names) bytes += (await stat(join(dir, name)).catch(() => undefined))?.size ?? 0;
  return bytes;
}

export async function fsRemoveCompanion(rawPath: string): Promise<void> {
  await rm(fsCompanionDir(rawPath), { recursive: true, force: true });
}

export async function redisPutCompanion(redis: Redis, key: string, content: MailContent): Promise<void> {
  const { json, blobs } = encodeCompanion(content);
  const bytes = Buffer.byteLength(json) + blobs.reduce((n, b) => n + b.length, 0);
  const fields: (string | Buffer)[] = ['json', json, 'bytes', String(bytes)];
  for (const [i, blob] of blobs.entries()) fields.push(String(i), blob);
  // One command: a reader sees the whole companion or none of it.
  await redis.hset(key, ...(fields as [string, string | Buffer]));
}

export async function redisGetCompanion(redis: Redis, key: string): Promise<MailContent | undefined> {
  const h = await redis.hgetallBuffer(key);
  const json = h.json?.toString('utf8');
  if (json === undefined) return undefined;
  const count = blobCount(json);
  if (count === undefined) return undefined;
  return decodeCompanion(json, Array.from({ length: count }, (_, i) => h[String(i)]));
}

function absentOnEnoent(e: NodeJS.ErrnoException): undefined {
  if (e.code === 'ENOENT') return undefined;
  throw e;
}

async function isThere(path: string): Promise<boolean> {
  return (await stat(path).catch(absentOnEnoent)) !== undefined;
}
