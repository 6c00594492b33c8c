// The web role against slow, greedy and hostile clients (src/web/hardening.ts): security
// headers on every board and probe answer, an oversized webhook refused with 413 from its
// Content-Length before the body is read, slow-byte connections closed at the header timeout,
// and the per-address connection cap.
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/log.js';
import { createMetrics } from '../../src/core/metrics.js';
import { buildWebServer } from '../../src/web/server.js';
import { capConnections, HEADERS_TIMEOUT_MS, SECURITY_HEADERS } from '../../src/web/hardening.js';
import { WEBHOOK_BODY_LIMIT } from '../../src/web/webhook.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('webhard');
const redis = testRedis();
let app: FastifyInstance;
let base: string;
let port: number;

beforeAll(async () => {
  await redis.ping();
  app = await buildWebServer({
    redis,
    prefix,
    logger: silentLogger,
    metrics: createMetrics(),
    auth: { mode: 'basic', users: [{ user: 'admin', password: 'correct-horse-battery', role: 'admin' }] },
    webhook: { secret: 'a-webhook-secret-for-tests', rules: [] },
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(base).port);
});

afterAll(async () => {
  await app?.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

function rawRequest(text: string): Promise<{ socket: Socket; answer: Promise<string>; closed: Promise<void> }> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1', () => {
      let got = '';
      socket.on('data', (d) => (got += d.toString()));
      socket.on('error', () => undefined);
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      if (text) socket.write(text);
      done({ socket, answer: closed.then(() => got), closed });
    });
  });
}

describe('security headers', () => {
  it('are on the board (signed in or refused), the probes, /metrics and the webhook', async () => {
    const auth = { authorization: `Basic ${Buffer.from('admin:correct-horse-battery').toString('base64')}` };
    const answers = await Promise.all([
      fetch(`${base}/board/`, { headers: auth }),
      fetch(`${base}/board/`),
      fetch(`${base}/healthz`),
      fetch(`${base}/readyz`),
      fetch(`${base}/metrics`),
      fetch(`${base}/webhooks/jira`, { method: 'POST', body: '{}' }),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 401, 200, expect.any(Number), 200, 401]);
    for (const r of answers) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(r.headers.get(name), `${r.url} ${name}`).toBe(value);
    }
    expect(SECURITY_HEADERS['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(SECURITY_HEADERS['x-frame-options']).toBe('DENY');
  });
});

describe('the webhook body limit', () => {
  it('refuses a 5 MB unauthenticated post with 413 from its Content-Length, without waiting for the body', async () => {
    const size = 5 * 1024 * 1024;
    expect(size).toBeGreaterThan(WEBHOOK_BODY_LIMIT);
    // Headers and a first kilobyte only: an answer now proves the body was not awaited.
    const { socket, answer } = await rawRequest(
      `POST /webhooks/jira HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n` + 'x'.repeat(1024),
    );
    let first = '';
    await new Promise<void>((r) => socket.once('data', (d) => ((first = d.toString()), r())));
    socket.destroy();
    await answer;
    expect(first).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('refuses a chunked body once it passes the limit, counting while reading', async () => {
    const { socket, answer } = await rawRequest(`POST /webhooks/jira HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = 'y'.repeat(64 * 1024);
    let first = '';
    socket.once('data', (d) => (first = d.toString()));
    for (let sent = 0; sent <= WEBHOOK_BODY_LIMIT + chunk.length && !first && !socket.destroyed; sent += chunk.length) {
      socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 200));
    socket.destroy();
    await answer;
    expect(first).toMatch(/^HTTP\/1\.1 413 /);
  });
});

describe('slow clients', () => {
  it('a connection that sends its headers a byte at a time is closed at the header timeout', { timeout: 60_000 }, async () => {
    const { socket, closed } = await rawRequest('GET /healthz HTTP/1.1\r\n');
    const drip = setInterval(() => socket.writable && socket.write('X'), 1000);
    const started = Date.now();
    await closed;
    clearInterval(drip);
    // Closed by the server (the client never stops), after the timeout and before a second one.
    expect(Date.now() - started).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 1000);
    expect(Date.now() - started).toBeLessThan(2 * HEADERS_TIMEOUT_MS);
  });

  it('caps connections per source address: one more is closed on accept', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    capConnections(server, { total: 100, perAddress: 3 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const p = (server.address() as { port: number }).port;
    const open = (): Promise<Socket> => new Promise((r) => { const s = connect(p, '127.0.0.1', () => r(s)); s.on('error', () => undefined); });
    const held = [await open(), await open(), await open()];
    const extra = await open();
    await new Promise<void>((r) => extra.once('close', () => r()));
    expect(held.every((s) => !s.destroyed)).toBe(true);
    held[0]!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = await open();
    const res = await new Promise<string>((r) => { again.on('data', (d) => r(d.toString())); again.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); });
    expect(res).toMatch(/^HTTP\/1\.1 200/);
    for (const s of [...held, again]) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
