import { describe, expect, it } from 'vitest';
import { maskRedisUrl } from '../../src/config/load.js';

describe('maskRedisUrl', () => {
  it.each([
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['redis://:s3cret@host:6379/0', 'redis://****@host:6379/0'],
    ['redis://user:s3cret@host:6379', 'redis://****@host:6379'],
    ['redis://host:6379/0?password=s3cret', 'redis://host:6379/0?password=****'],
    ['rediss://host?db=2&password=s3cret&family=6', 'rediss://host?db=2&password=****&family=6'],
    ['redis://host?Pass%77ord=s3cret', 'redis://host?Pass%77ord=****'],
    ['redis://host?sentinelPassword=s3cret&tls=true', 'redis://host?sentinelPassword=****&tls=true'],
    ['redis://u:p@host?password=q', 'redis://****@host?password=****'],
  ])('%s', (url, masked) => {
    expect(maskRedisUrl(url)).toBe(masked);
  });
});
