import { describe, expect, it } from 'vitest';
import { authenticate, isLoopbackAddress, parseBasic, resolveWebAuth, safeEqual, type WebAuth } from '../../src/web/auth.js';

const basic = (u: string, p: string) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

describe('resolveWebAuth', () => {
  it('uses basic auth when credentials are set, with an optional viewer pair', () => {
    const a = resolveWebAuth({ user: 'ops', password: 'pw', readonlyUser: 'look', readonlyPassword: 'pw2' }, { host: '0.0.0.0' });
    expect(a).toEqual({
      mode: 'basic',
      users: [
        { user: 'ops', password: 'pw', role: 'admin' },
        { user: 'look', password: 'pw2', role: 'viewer' },
      ],
    });
  });
  it('refuses to start without credentials, unless on loopback with --no-auth', () => {
    expect(() => resolveWebAuth({}, { host: '0.0.0.0' })).toThrow(/no web credentials/);
    expect(() => resolveWebAuth({}, { host: '127.0.0.1' })).toThrow(/--no-auth/);
    expect(() => resolveWebAuth({}, { host: '0.0.0.0', noAuth: true })).toThrow(/only when bound to loopback/);
    expect(resolveWebAuth({}, { host: '127.0.0.1', noAuth: true })).toEqual({ mode: 'none' });
    expect(resolveWebAuth({}, { host: '::1', noAuth: true })).toEqual({ mode: 'none' });
  });
  it('never drops a password because --no-auth was given', () => {
    expect(resolveWebAuth({ user: 'a', password: 'b' }, { host: '127.0.0.1', noAuth: true }).mode).toBe('basic');
  });
  it('refuses half-set pairs and mixing proxy with passwords', () => {
    expect(() => resolveWebAuth({ user: 'a' }, { host: '127.0.0.1' })).toThrow(/set together/);
    expect(() => resolveWebAuth({ readonlyUser: 'a' }, { host: '127.0.0.1' })).toThrow(/set together/);
    expect(() => resolveWebAuth({ user: 'a', password: 'b', proxyHeader: 'X-User' }, { host: '127.0.0.1' })).toThrow(/not both/);
    expect(() => resolveWebAuth({ proxyHeader: 'X User' }, { host: '127.0.0.1' })).toThrow(/not a header name/);
    expect(resolveWebAuth({ proxyHeader: 'X-Forwarded-User' }, { host: '0.0.0.0' })).toEqual({ mode: 'proxy', header: 'x-forwarded-user' });
  });
});

describe('authenticate', () => {
  const auth: WebAuth = {
    mode: 'basic',
    users: [
      { user: 'ops', password: 's3cret:with:colons', role: 'admin' },
      { user: 'look', password: 'view', role: 'viewer' },
    ],
  };
  const req = (authorization?: string) => ({ headers: { authorization }, remoteAddress: '10.0.0.5' });
  it('accepts each pair with its role, refuses the rest', () => {
    expect(authenticate(auth, req(basic('ops', 's3cret:with:colons')))).toEqual({ ok: true, user: 'ops', role: 'admin' });
    expect(authenticate(auth, req(basic('look', 'view')))).toEqual({ ok: true, user: 'look', role: 'viewer' });
    expect(authenticate(auth, req(basic('look', 's3cret:with:colons'))).ok).toBe(false);
    expect(authenticate(auth, req(basic('ops', 'S3cret:with:colons'))).ok).toBe(false);
    expect(authenticate(auth, req()).ok).toBe(false);
    expect(authenticate(auth, req('Bearer abc')).ok).toBe(false);
  });
  it('trusts the proxy header only from loopback peers', () => {
    const proxy: WebAuth = { mode: 'proxy', header: 'x-forwarded-user' };
    expect(authenticate(proxy, { headers: { 'x-forwarded-user': 'ann' }, remoteAddress: '127.0.0.1' })).toEqual({ ok: true, user: 'ann', role: 'admin' });
    expect(authenticate(proxy, { headers: { 'x-forwarded-user': 'ann' }, remoteAddress: '::ffff:127.0.0.1' }).ok).toBe(true);
    expect(authenticate(proxy, { headers: { 'x-forwarded-user': 'ann' }, remoteAddress: '10.1.2.3' }).ok).toBe(false);
    expect(authenticate(proxy, { headers: {}, remoteAddress: '127.0.0.1' }).ok).toBe(false);
    expect(authenticate(proxy, { headers: { 'x-forwarded-user': '  ' }, remoteAddress: '::1' }).ok).toBe(false);
  });
});

describe('helpers', () => {
  it('parseBasic splits at the first colon only', () => {
    expect(parseBasic(basic('u', 'p:q'))).toEqual({ user: 'u', password: 'p:q' });
    expect(parseBasic('Basic !!!')).toBeUndefined();
    expect(parseBasic('Basic ' + Buffer.from('nocolon').toString('base64'))).toBeUndefined();
  });
  it('safeEqual compares whole values of any length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
  it('isLoopbackAddress', () => {
    expect(['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1'].map(isLoopbackAddress)).toEqual([true, true, true, true]);
    expect(['10.0.0.1', '::ffff:10.0.0.1', undefined, '1270.0.0.1'].map(isLoopbackAddress)).toEqual([false, false, false, false]);
  });
});
