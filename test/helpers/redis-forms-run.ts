// `npx tsx test/helpers/redis-forms-run.ts [cluster|sentinel ...] -- <vitest files>`: start each
// Redis form on loopback ports (test/helpers/redis-forms.ts), run the given test files against
// it (the tests take the form from REDIS_CLUSTER_NODES / REDIS_SENTINELS), stop it. CI runs the
// pipeline's e2e tests this way (.ci/redis-forms).
import { spawn } from 'node:child_process';
import { startCluster, startSentinel, type RedisForm } from './redis-forms.js';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const forms = (sep >= 0 ? argv.slice(0, sep) : argv).filter(Boolean);
const files = sep >= 0 ? argv.slice(sep + 1) : [];
if (!forms.length || !files.length || forms.some((f) => f !== 'cluster' && f !== 'sentinel')) {
  process.stderr.write('usage: tsx test/helpers/redis-forms-run.ts cluster|sentinel [...] -- <test files>\n');
  process.exit(2);
}

let failed = 0;
for (const name of forms) {
  process.stderr.write(`== starting a Redis ${name} on loopback\n`);
  const form: RedisForm = name === 'cluster' ? await startCluster() : await startSentinel();
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, ...form.env };
    delete env.REDIS_URL;
    process.stderr.write(`== ${name}: ${JSON.stringify(form.env)}: ${files.join(' ')}\n`);
    const code = await new Promise<number>((resolve) => {
      const c = spawn('npx', ['vitest', 'run', ...files], { env, stdio: 'inherit' });
      c.once('exit', (code) => resolve(code ?? 1));
    });
    if (code) failed++;
  } finally {
    await form.stop();
  }
}
process.exit(failed ? 1 : 0);
