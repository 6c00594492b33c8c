// A TCP proxy in front of Redis that holds every client->server chunk for `delayMs` (in order),
// so each Redis round trip costs at least that much. Counting a path's sequential round trips
// this way does not depend on how busy the machine is: at 10 ms a round trip, a few ms of CPU
// noise hardly shows (bench/new-senders.ts --round-trips).
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface SlowRedis {
  url: string;
  close(): Promise<void>;
}

export async function startSlowRedis(target: { host: string; port: number }, delayMs: number): Promise<SlowRedis> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d: Buffer) => setTimeout(() => upstream.write(d), delayMs));
    upstream.on('data', (d: Buffer) => client.write(d));
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
