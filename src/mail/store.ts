// The mail store: raw RFC 822 bytes, content-addressed by sha256, kept outside job payloads.
// Filesystem (default: one machine) or Redis (several machines sharing one Redis). Putting the
// same bytes twice is a no-op, so a mail read again after a crash costs nothing extra. Beside
// a raw mail the store may keep its delivery content, made by the poller's parse
// (store-companion.ts); retention counts and deletes the two together.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { Config } from '../config/load.js';
import { NotFoundError, PermanentError } from '../core/errors.js';
import { key, type Redis } from '../core/redis.js';
import type { MailContent } from './content.js';
import type { RawRef } from './record.js';
import {
  fsCompanionBytes,
  fsGetCompanion,
  fsPutCompanion,
  fsRemoveCompanion,
  redisGetCompanion,
  redisPutCompanion,
} from './store-companion.js';

export interface MailStore {
  /** Stores the bytes (a no-op when they are there already) and returns where they are. */
  put(raw: Buffer): Promise<RawRef>;
  /** Stores a stream, hashing as it goes, without holding it all in memory where the store allows. */
  putStream(stream: Readable): Promise<RawRef>;
  /** The bytes; NotFoundError when the store has no such mail. */
  get(sha256: string): Promise<Buffer>;
  has(sha256: string): Promise<boolean>;
  /** Keeps the delivery content made from mail `sha256` beside it (put the raw mail first). */
  putContent(sha256: string, content: MailContent): Promise<void>;
  /** The delivery content kept beside the mail; undefined when there is none (or none whole). */
  getContent(sha256: string): Promise<MailContent | undefined>;
}

/** What retention (src/mail/retention.ts) needs from a store: every mail, and when it was last needed. */
export interface StoreInventory {
  /** Every stored mail with its size (its companion's included) and when it was stored or last marked needed (ms). */
  list(): AsyncIterable<StoredMail>;
  /** Marks mails as needed at `at` (a job still refers to them), restarting their retention. */
  touch(sha256s: readonly string[], at: number): Promise<void>;
  /** Deletes a mail and its companion; false when the mail was not there. */
  remove(sha256: string): Promise<boolean>;
}

export interface StoredMail {
  sha256: string;
  size: number;
  lastNeededAt: number;
}

const SHA256 = /^[a-f0-9]{64}$/;

export function sha256Of(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

/**
 * The store the configuration names. `redis` may be a function so that callers with a
 * filesystem store (the CLI's ingest) never open a connection they do not need.
 */
export function createMailStore(config: Config, redis?: Redis | (() => Redis)): MailStore & StoreInventory {
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
export class FsMailStore implements MailStore, StoreInventory {
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

  // The file's mtime is when it was stored or last marked needed: no index to keep in step.
  async *list(): AsyncIterable<StoredMail> {
    for (const a of await dirNames(this.dir)) {
      for (const b of await dirNames(join(this.dir, a))) {
        for (const name of await dirNames(join(this.dir, a, b))) {
          if (!SHA256.test(name)) continue; // temp files of a put in progress
          const st = await stat(join(this.dir, a, b, name)).catch(() => undefined);
          if (!st?.isFile()) continue;
          const companion = await fsCompanionBytes(join(this.dir, a, b, name));
          yield { sha256: name, size: st.size + companion, lastNeededAt: st.mtimeMs };
        }
      }
    }
  }

  async touch(sha256s: readonly string[], at: number): Promise<void> {
    const when = new Date(at);
    for (const sha of sha256s) {
      await utimes(this.pathOf(sha), when, when).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
  }

  async remove(sha256: string): Promise<boolean> {
    const path = this.pathOf(sha256);
    // The companion first: a crash in between leaves a raw mail the next pass deletes, never
    // a companion nothing lists.
    await fsRemoveCompanion(path);
    if (!(await exists(path))) return false;
    await rm(path, { force: true });
    return true;
  }

  async putContent(sha256: string, content: MailContent): Promise<void> {
    await fsPutCompanion(this.pathOf(sha256), content, tempName);
  }

  async getContent(sha256: string): Promise<MailContent | undefined> {
    return fsGetCompanion(this.pathOf(sha256));
  }

  /** Rename into place, then fsync the directory so the new name survives a power cut. */
  private async commit(tmp: string, path: string): Promise<void> {
    await rename(tmp, path);
    const dh = await open(dirname(path), 'r').catch(() => undefined);
    if (dh) await dh.sync().catch(() => undefined).finally(() => dh.close());
  }
}

/**
 * One key per mail, `<prefix>:mail:raw:<sha>`, written with SET NX (a second put is a no-op);
 * its companion in `<prefix>:mail:content:<sha>`.
 */
export class RedisMailStore implements MailStore, StoreInventory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  keyOf(sha256: string): string {
    checkSha(sha256);
    return key(this.prefix, 'mail', 'raw', sha256);
  }

  contentKeyOf(sha256: string): string {
    checkSha(sha256);
    return key(this.prefix, 'mail', 'content', sha256);
  }

  /** Sorted set of sha256 by when each mail was stored or last marked needed (ms). */
  private get seenKey(): string {
    return key(this.prefix, 'mail', 'seen');
  }

  async put(raw: Buffer): Promise<RawRef> {
    const ref = { sha256: sha256Of(raw), size: raw.length };
    // Both keys share the prefix's {hash tag}, so this MULTI is fine on a cluster too.
    await this.redis.multi().set(this.keyOf(ref.sha256), raw, 'NX').zadd(this.seenKey, 'GT', Date.now(), ref.sha256).exec();
    return ref;
  }

  async *list(): AsyncIterable<StoredMail> {
    // SCAN the mail keys (not the index) so mails stored before the index existed count too.
    const match = `${key(this.prefix, 'mail', 'raw')}:*`;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', 500);
      cursor = next;
      const shas = keys.map((k) => k.slice(k.lastIndexOf(':') + 1)).filter((x) => SHA256.test(x));
      if (!shas.length) continue;
      const p = this.redis.pipeline();
      for (const sha of shas) p.strlen(this.keyOf(sha)).zscore(this.seenKey, sha).hget(this.contentKeyOf(sha), 'bytes');
      const answers = (await p.exec()) ?? [];
      const unindexed: string[] = [];
      for (const [i, sha] of shas.entries()) {
        const size = Number(answers[3 * i]?.[1] ?? 0) + Number(answers[3 * i + 2]?.[1] ?? 0);
        const score = answers[3 * i + 1]?.[1];
        if (score === null || score === undefined) unindexed.push(sha);
        // A mail without an index entry starts its retention now rather than vanishing at once.
        yield { sha256: sha, size, lastNeededAt: score === null || score === undefined ? Date.now() : Number(score) };
      }
      if (unindexed.length) await this.touch(unindexed, Date.now());
    } while (cursor !== '0');
  }

  async touch(sha256s: readonly string[], at: number): Promise<void> {
    for (let i = 0; i < sha256s.length; i += 500) {
      const batch = sha256s.slice(i, i + 500);
      await this.redis.zadd(this.seenKey, 'GT', ...batch.flatMap((sha) => [at, sha]));
    }
  }

  async remove(sha256: string): Promise<boolean> {
    const [del] = (await this.redis.multi().del(this.keyOf(sha256)).del(this.contentKeyOf(sha256)).zrem(this.seenKey, sha256).exec()) ?? [];
    return Number(del?.[1] ?? 0) === 1;
  }

  async putContent(sha256: string, content: MailContent): Promise<void> {
    await redisPutCompanion(this.redis, this.contentKeyOf(sha256), content);
  }

  async getContent(sha256: string): Promise<MailContent | undefined> {
    return redisGetCompanion(this.redis, this.contentKeyOf(sha256));
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

async function dirNames(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}

function tempName(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}
