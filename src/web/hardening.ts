// What the web role does against clients that are slow, greedy or hostile: it listens on a
// port anyone on the network can reach, and the webhook route takes unauthenticated POSTs (the
// signature can only be checked once the whole body is in).
//
// - Timeouts: headers must be complete within HEADERS_TIMEOUT_MS, a whole request within
//   REQUEST_TIMEOUT_MS, and an idle keep-alive connection is closed after KEEP_ALIVE_MS. Node
//   checks these every CHECK_INTERVAL_MS (its default, 30 s, would let a slow-byte client hold
//   a connection for up to 30 s past its deadline).
// - Connections: at most MAX_CONNECTIONS in all and MAX_PER_ADDRESS from one source address;
//   more are closed on accept, before a byte is read.
// - Security headers on every response (the board can be framed otherwise: clickjacking of
//   its retry/remove buttons).
// The webhook's body limit is in webhook.ts (WEBHOOK_BODY_LIMIT), enforced while reading.
import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** Headers are a few hundred bytes: 10 s is generous for a real client on any network. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** The largest legitimate request is a 1 MiB webhook: 30 s is ~35 KB/s, slower than any Jira. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Prometheus and browsers reuse connections within seconds; an idle one is closed after 10 s. */
export const KEEP_ALIVE_MS = 10_000;
export const CHECK_INTERVAL_MS = 1_000;
/** A board, probes, a scraper and Jira's webhooks need tens, not thousands. */
export const MAX_CONNECTIONS = 256;
/** One source address (a browser opens ~6; a proxy in front of everything needs more: 64). */
export const MAX_PER_ADDRESS = 64;

/** Options for http.createServer (Fastify's `http`). */
export function httpServerOptions(): ServerOptions {
  return { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_MS, connectionsCheckingInterval: CHECK_INTERVAL_MS };
}

/** Fastify's own timeout options (it sets these on the server after creating it). */
export const fastifyTimeouts = { requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_MS, connectionTimeout: REQUEST_TIMEOUT_MS };

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Connection caps, in all and per source address: sockets beyond them are destroyed on accept. */
export function capConnections(server: Server, limits = { total: MAX_CONNECTIONS, perAddress: MAX_PER_ADDRESS }): void {
  server.maxConnections = limits.total;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const from = socket.remoteAddress ?? '?';
    const n = (open.get(from) ?? 0) + 1;
    if (n > limits.perAddress) {
      socket.destroy();
      return;
    }
    open.set(from, n);
    socket.once('close', () => {
      const left = (open.get(from) ?? 1) - 1;
      if (left > 0) open.set(from, left);
      else open.delete(from);
    });
  });
}

export function harden(app: FastifyInstance): void {
  capConnections(app.server);
  app.addHook('onSend', async (_req, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(name)) reply.header(name, value);
    return payload;
  });
}
