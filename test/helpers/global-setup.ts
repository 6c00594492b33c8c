// Runs once before the suite: says plainly what the integration tests need and what is absent.
import { createRedis, describeTarget, parseRedisTarget } from '../../src/core/redis.js';
import { corpusDir } from './corpus.js';

export default async function setup(): Promise<void> {
  const { target, problems } = parseRedisTarget(process.env);
  if (!target) throw new Error(`the tests' Redis is misconfigured: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  const r = createRedis(target, { name: 'mailroom-test-setup', giveUpAfterMs: 3000 });
  r.on('error', () => undefined);
  try {
    await r.ping();
  } catch (e) {
    throw new Error(`Redis is not reachable at ${describeTarget(target)} (${(e as Error).message}); start it (see .ci/run) or set REDIS_URL`, { cause: e });
  } finally {
    r.disconnect();
  }
  if (!corpusDir()) {
    process.stderr.write(
      '\nNOTICE: the mail corpora (../shared/corpora or MAILROOM_CORPUS_DIR) are absent: corpus tests are skipped.\n\n',
    );
  }
}
