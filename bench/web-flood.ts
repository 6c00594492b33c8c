// `npx tsx bench/web-flood.ts`: 30 concurrent unauthenticated 5 MB POSTs to /webhooks/jira
// (issue 24: they must be refused with 413 while the web role's RSS grows by at most 50 MB).
// The server runs in this process (buildWebServer, as the web role builds it); every client
// sends the same 5 MB buffer, so the client side adds nothing per request. Prints the answers
// and the RSS before and at its peak. Needs Redis at REDIS_URL (default 127.0.0.1:6379).
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { silentLogger } from '../src/core/log.js';
import { createMetrics } from '../src/core/metrics.js';
import { buildWebServer } from '../src/web/server.js';

const CLIENTS = 30;
const SIZE = 5 * 1024 * 1024;
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const app = await buildWebServer({
  redis,
  prefix: `{bench-flood-${process.pid}}`,
  logger: silentLogger,
  metrics: createMetrics(),
  auth: { mode: 'none' },
  webhook: { secret: 'bench-webhook-secret', rules: [] },
});
const port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);
const body = Buffer.alloc(SIZE, 0x61);
global.gc?.();
const before = process.memoryUsage().rss;
let peak = before;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);

function post(): Promise<string> {
  return new Promise((done) => {
    let status = '';
    const s = connect(port, '127.0.0.1', () => {
      s.write(`POST /webhooks/jira HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${SIZE}\r\n\r\n`);
      s.write(body);
    });
    s.on('data', (d) => {
      status ||= d.toString().split('\r\n')[0] ?? '';
      s.destroy();
    });
    s.on('error', () => undefined);
    s.on('close', () => done(status || 'closed without an answer'));
  });
}

const started = Date.now();
const answers = await Promise.all(Array.from({ length: CLIENTS }, post));
clearInterval(sampler);
const counts: Record<string, number> = {};
for (const a of answers) counts[a] = (counts[a] ?? 0) + 1;
const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
process.stdout.write(
  `${CLIENTS} x ${mb(SIZE)} MB posts in ${Date.now() - started} ms: ${JSON.stringify(counts)}\n` +
    `RSS before ${mb(before)} MB, peak ${mb(peak)} MB, growth ${mb(peak - before)} MB (limit 50 MB)\n`,
);
await app.close();
redis.disconnect();
process.exit(peak - before <= 50 * 1024 * 1024 && counts['HTTP/1.1 413 Payload Too Large'] === CLIENTS ? 0 : 1);
