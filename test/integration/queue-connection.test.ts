// BullMQ's Queue handles get a twin of the connection they are opened on, so the key connection
// the roles make their MULTIs and pipelines on carries none of BullMQ's Lua scripts (ioredis
// copies each defined script onto every pipeline made from a connection: docs/benchmarks.md).
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedis, onQueueTwin, queueConnection, type Redis } from '../../src/core/redis.js';
import { openQueue } from '../../src/queues/queue.js';
import { openTokenQueues } from '../../src/token/gate.js';
import { notify } from '../../src/queues/catalog.js';
import { REDIS_URL } from '../helpers/redis.js';
import { freePort } from '../helpers/dovecot.js';

const scriptsOn = (r: Redis) => Object.keys((r as unknown as { scriptsSet: Record<string, unknown> }).scriptsSet);

/** The ids of the server's clients named `name` (CLIENT LIST). */
async function clientIdsNamed(admin: Redis, name: string): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').filter((l) => l.includes(` name=${name} `)).map((l) => /^id=(\d+)/.exec(l)![1]!);
}

const clientsNamed = async (admin: Redis, name: string) => (await clientIdsNamed(admin, name)).length;

describe('queue connections', () => {
  const opened: Redis[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((r) => r.quit().catch(() => r.disconnect())));
  });

  it('leaves the key connection without BullMQ scripts, and the queues work on the twin', async () => {
    const name = `qc-${randomUUID().slice(0, 8)}`;
    const keys = createRedis(REDIS_URL, { forWorker: true, name });
    opened.push(keys);
    const prefix = `{qc-${randomUUID()}}`;
    const q = openQueue(notify, { connection: keys, prefix });
    const token = openTokenQueues(keys, prefix);
    await Promise.all([q.waitUntilReady(), ...token.map((t) => t.waitUntilReady())]);
    const job = await q.add('x', { hello: 1 }, { jobId: 'one' });
    expect((await q.getJob(job.id!))?.data).toEqual({ hello: 1 });
    expect(scriptsOn(keys)).toEqual([]);
    const twin = queueConnection(keys);
    expect(twin).not.toBe(keys);
    expect(queueConnection(keys)).toBe(twin);
    expect(scriptsOn(twin).length).toBeGreaterThan(10);
    expect(twin.options.connectionName).toBe(`${name}-queues`);
    await q.obliterate({ force: true });
    await Promise.all([q.close(), ...token.map((t) => t.close())]);
  });

  it('ends the twin when the connection it was made for ends', async () => {
    const name = `qc-${randomUUID().slice(0, 8)}`;
    const admin = createRedis(REDIS_URL);
    opened.push(admin);
    const keys = createRedis(REDIS_URL, { name });
    const twin = queueConnection(keys);
    await twin.ping();
    expect(await clientsNamed(admin, `${name}-queues`)).toBe(1);
    await keys.quit();
    await expect.poll(() => twin.status, { timeout: 5000 }).toBe('end');
    await expect.poll(() => clientsNamed(admin, `${name}-queues`), { timeout: 5000 }).toBe(0);
  });

  it('ends a twin that was waiting to reconnect when its connection gave up, and rejects what it held', async () => {
    // Nothing listens on the port: both connections keep failing, and the key connection gives
    // up after 1 s, as the CLI's does (with Redis away, a CLI command must exit with its line).
    const port = await freePort();
    const keys = createRedis(`redis://127.0.0.1:${port}`, { name: `qc-${randomUUID().slice(0, 8)}`, giveUpAfterMs: 1000, forWorker: true });
    keys.on('error', () => undefined);
    const twin = queueConnection(keys);
    const held = twin.ping().then(() => 'answered', (e: Error) => `rejected: ${e.message}`);
    await expect.poll(() => keys.status, { timeout: 10_000 }).toBe('end');
    // Without the fix, ending the twin while it waited to reconnect left it 'reconnecting'
    // with no timer and no socket: its ping never settled (a CLI command then exited 13).
    await expect.poll(() => twin.status, { timeout: 5000 }).toBe('end');
    expect(await held).toMatch(/^rejected: /);
  });

  it('ends a twin that its connection outlived only while it waited to reconnect', async () => {
    const name = `qc-${randomUUID().slice(0, 8)}`;
    const admin = createRedis(REDIS_URL);
    opened.push(admin);
    const keys = createRedis(REDIS_URL, { name, forWorker: true });
    const twin = queueConnection(keys);
    await Promise.all([keys.ping(), twin.ping()]);
    // The server drops the twin: it waits ~50 ms before its first reconnect attempt, and the
    // key connection ends (QUIT) inside that wait.
    for (const id of await clientIdsNamed(admin, `${name}-queues`)) await admin.client('KILL', 'ID', id);
    await expect.poll(() => twin.status, { timeout: 2000, interval: 1 }).toBe('reconnecting');
    const held = twin.ping().then(() => 'answered', (e: Error) => `rejected: ${e.message}`);
    await keys.quit();
    // Without the fix the twin stayed 'reconnecting' for good, and its ping never settled.
    await expect.poll(() => twin.status, { timeout: 5000 }).toBe('end');
    expect(await held).toMatch(/^(answered|rejected: )/);
    await expect.poll(() => clientsNamed(admin, `${name}-queues`), { timeout: 5000 }).toBe(0);
  });

  it('tells its watcher of each twin, and replaces a twin that ended on its own', async () => {
    const keys = createRedis(REDIS_URL, { name: `qc-${randomUUID().slice(0, 8)}` });
    opened.push(keys);
    const seen: Redis[] = [];
    onQueueTwin(keys, (t) => seen.push(t));
    const first = queueConnection(keys);
    await first.ping();
    expect(seen).toEqual([first]);
    first.disconnect();
    await expect.poll(() => first.status, { timeout: 5000 }).toBe('end');
    const second = queueConnection(keys);
    expect(second).not.toBe(first);
    expect(await second.ping()).toBe('PONG');
    expect(seen).toEqual([first, second]);
  });
});
