// Library console output goes through the logger as JSON, each distinct message once; the
// eviction-policy warning BullMQ prints on every connection is kept at debug (Mailroom's own
// Redis settings check says it once).
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { routeConsole } from '../../src/core/console-route.js';
import { createLogger } from '../../src/core/log.js';

describe('routeConsole', () => {
  it('logs each distinct library message once, as JSON, and BullMQ eviction warnings at debug', () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(c.toString())), done()) });
    const logger = createLogger({ level: 'debug', destination }).child({ role: 'poller' });
    const target = { log: console.log, info: console.info, warn: console.warn, error: console.error };
    routeConsole(logger, target);
    for (let i = 0; i < 14; i++) target.warn('IMPORTANT! Eviction policy is allkeys-lru. It should be "noeviction"');
    target.error('something odd: %d', 42, '\n    at stack (frame.js:1:1)');
    target.error('something odd: %d', 42, '\n    at stack (frame.js:1:1)');
    expect(lines.map((l) => [l.level, l.msg, l.source, l.role])).toEqual([
      [20, 'IMPORTANT! Eviction policy is allkeys-lru. It should be "noeviction"', 'library', 'poller'],
      [50, 'something odd: 42 ', 'library', 'poller'],
    ]);
  });
});
