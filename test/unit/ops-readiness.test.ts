import { describe, expect, it } from 'vitest';
import { freshnessCheck, runReadiness } from '../../src/ops/readiness.js';
import { progressLine } from '../../src/ops/bulk.js';

describe('runReadiness', () => {
  it('is ready only when every check is ok, and says which failed', async () => {
    const r = await runReadiness([
      { name: 'a', check: async () => ({ ok: true }) },
      { name: 'b', check: async () => ({ ok: false, detail: 'token revoked' }) },
    ]);
    expect(r.ready).toBe(false);
    expect(r.checks.map((c) => [c.name, c.ok, c.detail])).toEqual([
      ['a', true, undefined],
      ['b', false, 'token revoked'],
    ]);
    expect((await runReadiness([{ name: 'a', check: async () => ({ ok: true }) }])).ready).toBe(true);
  });

  it('turns a throwing check and a hung check into failures', async () => {
    const r = await runReadiness(
      [
        { name: 'throws', check: async () => Promise.reject(new Error('boom')) },
        { name: 'hangs', check: () => new Promise(() => undefined) },
      ],
      50,
    );
    expect(r.ready).toBe(false);
    expect(r.checks[0]).toMatchObject({ ok: false, detail: 'boom' });
    expect(r.checks[1]).toMatchObject({ ok: false, detail: 'no answer within 50 ms' });
  });
});

describe('freshnessCheck', () => {
  const now = () => 1_000_000;
  it('passes a recent stamp, fails a stale or missing one', async () => {
    expect(await freshnessCheck('mbx', async () => 1_000_000 - 10_000, 60_000, now).check()).toMatchObject({ ok: true });
    expect(await freshnessCheck('mbx', async () => 1_000_000 - 90_000, 60_000, now).check()).toEqual({
      ok: false,
      detail: 'last seen 90 s ago (limit 60 s)',
    });
    expect(await freshnessCheck('mbx', async () => undefined, 60_000, now).check()).toEqual({ ok: false, detail: 'never recorded' });
  });
});

describe('progressLine', () => {
  it('fills in proportion', () => {
    expect(progressLine('retry', 0, 4, 8)).toBe('retry [--------] 0/4');
    expect(progressLine('retry', 2, 4, 8)).toBe('retry [####----] 2/4');
    expect(progressLine('retry', 4, 4, 8)).toBe('retry [########] 4/4');
    expect(progressLine('remove', 0, 0, 4)).toBe('remove [####] 0/0');
  });
});
