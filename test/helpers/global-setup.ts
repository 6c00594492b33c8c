// Runs once before the suite: says plainly what the integration tests need and what is absent.
import { Redis } from 'ioredis';
import { corpusDir } from './corpus.js';

export default async function setup(): Promise<void> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    throw new Error(`Redis is not reachable at ${url} (${(e as Error).message}); start it (see .ci/run) or set REDIS_URL`, { cause: e });
  } finally {
    r.disconnect();
  }
  if (!corpusDir()) {
    process.stderr.write(
      '\nNOTICE: the mail corpora (../shared/corpora or MAILROOM_CORPUS_DIR) are absent: corpus tests are skipped.\n\n',
    );
  }
}
