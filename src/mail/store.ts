// The mail store: raw RFC 822 bytes, content-addressed by sha256, kept outside job payloads.
// Filesystem (default: one machine) or Redis (several machines sharing one Redis). Putting the
// same bytes twice is a no-op, so a mail read again after a crash costs nothing extra.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { Config } from '../config/load.js';
import { NotFoundError, PermanentError } from '../errors.js';
import { key, type Redis } from '../redis.js';
import type { RawRef } from './record.js';

export interface MailStore {
  /** Stores the bytes (a no-op when they are there already) and returns where they are. */
  put(raw: Buffer): Promise<RawRef>;
  /** Stores a stream, hashing as it goes, without holding it all in memory where the store allows. */
  putStream(stream: Readable): Promise<RawRef>;
  /** The bytes; NotFoundError when the store has no such mail. */
  get(sha256: string): Promise<Buffer>;
  has(sha256: string): Promise<boolean>;
}

const SHA256 = /^[a-f0-9]{64}$/;

export function sha256Of(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

/**
 * The store the configuration names. `redis` may be a function so that callers with a
 * filesystem store (the CLI's ingest) never open a connection they do not need.
 */
export function createMailStore(config: Config, redis?: Redis | (() => Redis)): MailStore {
  // A relative store dir is taken from the working directory, like other relative paths the
  // CLI is given; production configs should name an absolute path.
  if (config.store.kind === 'fs') return new FsMailStore(resolve(config.store.dir));
  if (!redis) throw new PermanentError('store.kind is "redis" but no Redis connection was given to createMailStore');
  return new RedisMailStore(typeof redis === 'function' ? redis() : redis, config.prefix);
}

function checkSha(sha256: string): void {
  // The sha becomes a path or a key: anything else (../, wildcards) must never get that far.
  if (!SHA256.test(sha256)) throw new PermanentError(`not a sha256 mail reference: "${sha256.slice(0, 80)}"`);
}

/** Files at <dir>/ab/cd/<sha>: two levels of 256 keep directories small at millions of mails. */
export class FsMailStore implements MailStore {
  constructor(readonly dir: string) {}

  pathOf(sha256: string): string {
    checkSha(sha256);
    return join(this.dir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  async put(raw: Buffer): Promise<RawRef> {
    const ref = { sha256: sha256Of(raw), size: raw.length };
    const path = this.pathOf(ref.sha256);
    if (await exists(path)) return ref;
    await mkdir(dirname(path), { recursive: true });
    const tmp = tempName(path);
    try {
      const fh = await open(tmp, 'wx');
      try {
        await fh.writeFile(raw);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.commit(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return ref;
  }

  async putStream(stream: Readable): Promise<RawRef> {
    // Written to a temp file in the store's own directory (same filesystem, so the final
    // rename is atomic), hashed on the way, renamed once the hash names it.
    await mkdir(this.dir, { recursive: true });
    const tmp = tempName(join(this.dir, 'incoming'));
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(stream, tap, createWriteStream(tmp, { flags: 'wx' }));
      const fh = await open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const ref = { sha256: hash.digest('hex'), size };
      const path = this.pathOf(ref.sha256);
      if (await exists(path)) {
        await rm(tmp, { force: true });
        return ref;
      }
      await mkdir(dirname(path), { recursive: true });
      await this.commit(tmp, path);
      return ref;
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async get(sha256: string): Promise<Buffer> {
    const path = this.pathOf(sha256);
    try {
      return await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError(`mail ${sha256} is not in the filesystem mail store at ${this.dir}`, { cause: e });
      }
      throw e;
    }
  }

  async has(sha256: string): Promise<boolean> {
    return exists(this.pathOf(sha256));
  }

  /** Rename into place, then fsync the directory so the new name survives a power cut. */
  private async commit(tmp: string, path: string): Promise<void> {
    await rename(tmp, path);
    const dh = await open(dirname(path), 'r').catch(() => undefined);
    if (dh) await dh.sync().catch(() => undefined).finally(() => dh.close());
  }
}

/** One key per mail, `<prefix>:mail:raw:<sha>`, written with SET NX (a second put is a no-op). */
export class RedisMailStore implements MailStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  keyOf(sha256: string): string {
    checkSha(sha256);
    return key(this.prefix, 'mail', 'raw', sha256);
  }

  async put(raw: Buffer): Promise<RawRef> {
    const ref = { sha256: sha256Of(raw), size: raw.length };
    await this.redis.set(this.keyOf(ref.sha256), raw, 'NX');
    return ref;
  }

  async putStream(stream: Readable): Promise<RawRef> {
    // Redis takes a value whole, so the stream is gathered in memory here.
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
    return this.put(Buffer.concat(chunks));
  }

  async get(sha256: string): Promise<Buffer> {
    const value = await this.redis.getBuffer(this.keyOf(sha256));
    if (value === null) throw new NotFoundError(`mail ${sha256} is not in the Redis mail store (key ${this.keyOf(sha256)})`);
    return value;
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.redis.exists(this.keyOf(sha256))) === 1;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

function tempName(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}
