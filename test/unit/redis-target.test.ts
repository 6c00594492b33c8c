import { describe, expect, it } from 'vitest';
import { describeTarget, parseRedisTarget } from '../../src/core/redis-target.js';
import { parseConfig } from '../../src/config/load.js';

describe('parseRedisTarget', () => {
  it('defaults to one local server', () => {
    expect(parseRedisTarget({})).toEqual({ problems: [], target: { form: 'url', url: 'redis://127.0.0.1:6379' } });
  });

  it('takes a rediss:// URL as is (TLS) and never shows its password', () => {
    const { target } = parseRedisTarget({ REDIS_URL: 'rediss://app:s3cret-pw@cache.example.net:6380/2' });
    expect(target).toEqual({ form: 'url', url: 'rediss://app:s3cret-pw@cache.example.net:6380/2' });
    expect(describeTarget(target!)).toBe('rediss://****@cache.example.net:6380/2');
  });

  it('refuses a URL whose path is not a database number (ioredis would SELECT it and fail at run time)', () => {
    const { target, problems } = parseRedisTarget({ REDIS_URL: 'redis://127.0.0.1:6379/abc' });
    expect(target).toBeUndefined();
    expect(problems).toEqual([{ path: 'REDIS_URL', message: expect.stringMatching(/path must be a database number/) }]);
    expect(parseRedisTarget({ REDIS_URL: 'redis://127.0.0.1:6379/3' }).target).toEqual({ form: 'url', url: 'redis://127.0.0.1:6379/3' });
    expect(parseRedisTarget({ REDIS_URL: 'redis://127.0.0.1:6379/' }).problems).toEqual([]);
  });

  it('reads Sentinel: the sentinels, the master name and both passwords from the environment', () => {
    const { target, problems } = parseRedisTarget({
      REDIS_SENTINELS: '10.0.0.1:26379, 10.0.0.2 ,[fd00::3]:26380',
      REDIS_SENTINEL_MASTER: 'mymaster',
      REDIS_PASSWORD: 'data-pw-123',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pw-456',
      REDIS_TLS: 'yes',
    });
    expect(problems).toEqual([]);
    expect(target).toEqual({
      form: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
        { host: 'fd00::3', port: 26380 },
      ],
      masterName: 'mymaster',
      password: 'data-pw-123',
      sentinelPassword: 'sentinel-pw-456',
      username: undefined,
      sentinelUsername: undefined,
      db: undefined,
      tls: true,
    });
    const shown = describeTarget(target!);
    expect(shown).toBe('sentinel master "mymaster" via 10.0.0.1:26379,10.0.0.2:26379,[fd00::3]:26380 (TLS)');
    expect(shown).not.toMatch(/pw/);
  });

  it('reads Cluster seed nodes', () => {
    const { target } = parseRedisTarget({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', REDIS_PASSWORD: 'pw-cluster-1' });
    expect(target).toEqual({ form: 'cluster', nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }], username: undefined, password: 'pw-cluster-1', tls: false });
    expect(describeTarget(target!)).toBe('cluster via n1:7000,n2:7001');
  });

  it.each([
    [{ REDIS_URL: 'http://x:6379' }, 'REDIS_URL', /not a redis:\/\/ or rediss:\/\/ URL/],
    [{ REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: 'h:7000' }, 'REDIS_URL, REDIS_CLUSTER_NODES', /set only one/],
    [{ REDIS_SENTINELS: 'h:26379' }, 'REDIS_SENTINEL_MASTER', /name the master/],
    [{ REDIS_SENTINELS: 'h:notaport', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS', /host:port/],
    [{ REDIS_CLUSTER_NODES: ' , ' }, 'REDIS_CLUSTER_NODES', /lists no host:port/],
    [{ REDIS_CLUSTER_NODES: 'h:7000', REDIS_DB: '3' }, 'REDIS_DB', /only database 0/],
    [{ REDIS_TLS: 'maybe' }, 'REDIS_TLS', /1\/true\/yes/],
    [{ REDIS_PASSWORD: 'pw' }, 'REDIS_PASSWORD', /put a password for REDIS_URL in the URL/],
    // Beside a URL these were ignored without a word: the install ran on database 0, in clear.
    [{ REDIS_URL: 'redis://h:6379', REDIS_DB: '2' }, 'REDIS_DB', /database in the URL path/],
    [{ REDIS_URL: 'redis://h:6379', REDIS_TLS: '1' }, 'REDIS_TLS', /rediss:\/\/ URL/],
    [{ REDIS_USERNAME: 'app' }, 'REDIS_USERNAME', /user for REDIS_URL in the URL/],
  ])('refuses %o, naming %s', (env, path, message) => {
    const { target, problems } = parseRedisTarget(env);
    expect(target).toBeUndefined();
    expect(problems[0]).toMatchObject({ path, message: expect.stringMatching(message) });
  });

  it('the config refuses a cluster with a prefix that has no {hash tag}, and names a fix', () => {
    const raw = { jira: { site: 'https://acme.atlassian.net' }, mailboxes: [{ id: 'support' }] };
    expect(() => parseConfig(raw, { REDIS_CLUSTER_NODES: 'h:7000', MAILROOM_PREFIX: 'mailroom' })).toThrow(/MAILROOM_PREFIX.*\{mailroom\}/s);
    const c = parseConfig(raw, { REDIS_CLUSTER_NODES: 'h:7000' });
    expect(c.redis.form).toBe('cluster');
    expect(c.prefix).toBe('{mailroom}');
  });
});
