import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isConnectionError, RedisOutage } from '../../src/core/redis-outage.js';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

function recorder() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, obj, msg });
  return { lines, logger: { warn: at('warn'), info: at('info'), error: at('error') } as never };
}

describe('isConnectionError', () => {
  it.each([
    [refused, true],
    [new Error('Connection is closed.'), true],
    [new Error('All sentinels are unreachable. Retrying from scratch after 50ms.'), true],
    [Object.assign(new Error('Failed to refresh slots cache.'), { lastNodeError: refused }), true],
    [new Error("READONLY You can't write against a read only replica."), true],
    [new Error('ERR wrong number of arguments for command'), false],
    [new Error('NOSCRIPT No matching script'), false],
  ])('%s -> %s', (e, expected) => expect(isConnectionError(e)).toBe(expected));
});

describe('RedisOutage', () => {
  it('logs one line when Redis goes away and one when every connection is back, whatever the retries', () => {
    const { lines, logger } = recorder();
    let now = 1000;
    const outage = new RedisOutage(logger, 'redis://****@h:6379', () => now);
    const a = new EventEmitter();
    const b = new EventEmitter();
    outage.watch(a as never);
    outage.watch(b as never);
    for (let i = 0; i < 50; i++) {
      a.emit('error', refused);
      b.emit('error', refused);
    }
    expect(outage.current()).toMatchObject({ down: true, since: 1000 });
    now = 4000;
    a.emit('ready');
    expect(lines).toHaveLength(1);
    b.emit('ready');
    expect(lines).toEqual([
      { level: 'warn', obj: { redis: 'redis://****@h:6379', err: 'connect ECONNREFUSED 127.0.0.1:6379' }, msg: 'redis unreachable: work waits until it is back' },
      { level: 'info', obj: { redis: 'redis://****@h:6379', downMs: 3000 }, msg: 'redis reachable again' },
    ]);
    // A second outage is a second pair of lines.
    a.emit('error', refused);
    a.emit('ready');
    expect(lines.map((l) => l.level)).toEqual(['warn', 'info', 'warn', 'info']);
  });

  it('reports an error that is not about the connection as such, without declaring an outage', () => {
    const { lines, logger } = recorder();
    const outage = new RedisOutage(logger, 'x');
    const a = new EventEmitter();
    outage.watch(a as never);
    a.emit('error', new Error('ERR unknown command'));
    expect(outage.current().down).toBe(false);
    expect(lines).toMatchObject([{ level: 'error', msg: 'redis error' }]);
  });
});
