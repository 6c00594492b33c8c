import { describe, expect, it } from 'vitest';
import { parseInfo, settingsFindings } from '../../src/core/redis-settings.js';

describe('settingsFindings', () => {
  it('is quiet on noeviction with AOF everysec', () => {
    expect(settingsFindings({ maxmemory_policy: 'noeviction', aof_enabled: '1' }, 'everysec')).toEqual([]);
  });

  it('names maxmemory-policy when Redis may evict', () => {
    const f = settingsFindings({ maxmemory_policy: 'allkeys-lru', aof_enabled: '1' });
    expect(f).toEqual([{ setting: 'maxmemory-policy', value: 'allkeys-lru', advice: expect.stringContaining('noeviction') }]);
  });

  it('names appendonly when AOF is off, and appendfsync when it is "no"', () => {
    expect(settingsFindings({ maxmemory_policy: 'noeviction', aof_enabled: '0' }).map((x) => x.setting)).toEqual(['appendonly']);
    expect(settingsFindings({ maxmemory_policy: 'noeviction', aof_enabled: '1' }, 'no').map((x) => x.setting)).toEqual(['appendfsync']);
  });

  it('parses INFO sections', () => {
    expect(parseInfo('# Memory\r\nused_memory:100\r\nmaxmemory_policy:noeviction\r\n\r\n# Persistence\r\naof_enabled:1\r\n')).toEqual({
      used_memory: '100',
      maxmemory_policy: 'noeviction',
      aof_enabled: '1',
    });
  });
});
