// A Redis that lost the install's state is said once, loudly; a first start and a known install
// say nothing; `restore-mark` moves the ledger's birth stamp so restored Redis gets recovery looks.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { checkStateLoss, installKey, markRestored } from '../../src/ops/state-loss.js';
import type { Config } from '../../src/config/load.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

function capture() {
  const lines: { level: number; msg: string; stateLost?: string[] }[] = [];
  const destination = new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(c.toString())), done()) });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

function install(storeHasMail: boolean): Config {
  const prefix = uniquePrefix('stateloss');
  prefixes.push(prefix);
  const dir = mkdtempSync(join(tmpdir(), 'mr-stateloss-'));
  if (storeHasMail) mkdirSync(join(dir, 'ab', 'cd'), { recursive: true });
  return { prefix, store: { kind: 'fs', dir } } as unknown as Config;
}

describe('state loss', () => {
  it('a first start (empty store, empty Redis) writes the marker and says nothing; then the install is known', async () => {
    const config = install(false);
    const { lines, logger } = capture();
    expect(await checkStateLoss(redis, config, logger)).toEqual({ state: 'first-start' });
    expect(await redis.exists(installKey(config.prefix))).toBe(1);
    expect(await checkStateLoss(redis, config, logger)).toEqual({ state: 'known' });
    expect(lines).toEqual([]);
  });

  it('a store with mail and a Redis without the marker is a wipe: one error line with what was lost and what recovers it, said by one process only', async () => {
    const config = install(true);
    const a = capture();
    const b = capture();
    const [first, second] = await Promise.all([checkStateLoss(redis, config, a.logger), checkStateLoss(redis, config, b.logger)]);
    expect([first.state, second.state].sort()).toEqual(['known', 'wiped']);
    const said = [...a.lines, ...b.lines];
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 50, msg: expect.stringMatching(/^REDIS LOST THIS INSTALL'S STATE: the mail store at .* holds mail/) });
    expect(said[0]!.msg).toContain('mailroom token set');
    expect(said[0]!.stateLost).toContain('the audit trail');
    expect(await checkStateLoss(redis, config, a.logger)).toEqual({ state: 'known' });
  });

  it('an install from before the marker (ledger stamp present, store empty) is not a wipe', async () => {
    const config = install(false);
    await createLedger(redis, config.prefix).bornAt();
    const { lines, logger } = capture();
    expect(await checkStateLoss(redis, config, logger)).toEqual({ state: 'first-start' });
    expect(lines).toEqual([]);
  });

  it('restore-mark moves the ledger birth stamp to now, so mail older than the restore gets a recovery look', async () => {
    const config = install(false);
    const ledger = createLedger(redis, config.prefix);
    const old = await ledger.bornAt();
    const r = await markRestored(redis, config.prefix, old + 3_600_000);
    expect(r).toEqual({ previousBornAt: old, bornAt: old + 3_600_000 });
    expect(await ledger.bornAt()).toBe(old + 3_600_000);
    expect(JSON.parse((await redis.get(installKey(config.prefix)))!)).toMatchObject({ restoredAt: expect.any(String) });
  });
});
