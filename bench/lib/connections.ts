// Redis connections a bench makes for workers (one each: BullMQ blocks on them), all closed
// together at its end.
import { Redis } from 'ioredis';

export interface Connections {
  /** A new connection for a worker (no retry limit per request, as BullMQ wants). */
  make(): Redis;
  closeAll(): void;
}

export function connections(url: string): Connections {
  const made: Redis[] = [];
  return {
    make() {
      const r = new Redis(url, { maxRetriesPerRequest: null });
      made.push(r);
      return r;
    },
    closeAll() {
      for (const c of made) c.disconnect();
    },
  };
}
