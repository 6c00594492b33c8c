// A TCP proxy in front of Redis that holds every client->server chunk for `delayMs` (in order),
// so each Redis round trip costs at least that much, and counts the commands clients send (RESP
// arrays, parsed; by name, EVALSHA by its script's hash).
// Counting a path's sequential round trips this way does not depend on how busy the machine is:
// at 10 ms a round trip, a few ms of CPU noise hardly shows (bench/new-senders.ts --round-trips);
// the command count does not depend on time at all.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface SlowRedis {
  url: string;
  /** Commands seen since the proxy started (all connections), in all and by name. */
  counts(): { commands: number; byName: Map<string, number> };
  close(): Promise<void>;
}

/**
 * Counts whole RESP commands in a client's byte stream (`*<n>\r\n` then n bulk strings), across
 * chunk boundaries. Only what clients send is parsed; ioredis sends nothing else.
 */
export class RespCounter {
  commands = 0;
  readonly byName = new Map<string, number>();
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const cmd = this.command(this.buf);
      if (!cmd) return;
      this.commands++;
      this.byName.set(cmd.name, (this.byName.get(cmd.name) ?? 0) + 1);
      this.buf = this.buf.subarray(cmd.end);
    }
  }

  /** The first whole command in `b` (its name, and the offset just past it), or undefined when it is not all there. */
  private command(b: Buffer): { name: string; end: number } | undefined {
    const line = (from: number): [string, number] | undefined => {
      const nl = b.indexOf('\r\n', from);
      return nl < 0 ? undefined : [b.toString('latin1', from, nl), nl + 2];
    };
    const head = line(0);
    if (!head) return undefined;
    if (!head[0].startsWith('*')) return { name: head[0].split(' ')[0]!.toLowerCase(), end: head[1] }; // an inline command: one line
    let at = head[1];
    const args: string[] = [];
    for (let i = Number(head[0].slice(1)); i > 0; i--) {
      const bulk = line(at);
      if (!bulk) return undefined;
      const from = bulk[1];
      at = from + Number(bulk[0].slice(1)) + 2;
      if (at > b.length) return undefined;
      if (args.length < 2) args.push(b.toString('latin1', from, at - 2));
    }
    const name = (args[0] ?? '').toLowerCase();
    return { name: name === 'evalsha' ? `evalsha ${(args[1] ?? '').slice(0, 8)}` : name, end: at };
  }
}

export async function startSlowRedis(target: { host: string; port: number }, delayMs: number): Promise<SlowRedis> {
  const sockets = new Set<Socket>();
  const counters = new Set<RespCounter>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    const resp = new RespCounter();
    counters.add(resp);
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d: Buffer) => {
      resp.push(d);
      if (delayMs > 0) setTimeout(() => upstream.write(d), delayMs);
      else upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    counts: () => {
      const byName = new Map<string, number>();
      for (const c of counters) for (const [k, v] of c.byName) byName.set(k, (byName.get(k) ?? 0) + v);
      return { commands: [...counters].reduce((n, c) => n + c.commands, 0), byName };
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
