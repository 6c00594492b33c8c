import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSecretKey } from '../../src/token/key.js';

describe('loadSecretKey from MAILROOM_SECRET_KEY_FILE', () => {
  it('reads a key file of base64 text (with a newline) or of 32 raw bytes, and warns about loose modes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-key-'));
    const raw = randomBytes(32);
    const text = join(dir, 'key.b64');
    writeFileSync(text, raw.toString('base64') + '\n', { mode: 0o600 });
    const k = loadSecretKey({ file: text });
    expect(k.bytes.equals(raw)).toBe(true);
    expect(k.warnings).toEqual([]);
    let bin = Buffer.from(raw);
    bin[0] = 0; // not plausible base64 text
    bin = Buffer.from(bin);
    const binPath = join(dir, 'key.bin');
    writeFileSync(binPath, bin, { mode: 0o644 });
    chmodSync(binPath, 0o644);
    const kb = loadSecretKey({ file: binPath });
    expect(kb.bytes.equals(bin)).toBe(true);
    expect(kb.warnings.join()).toMatch(/readable by others.*chmod 600/);
  });

  it('refuses an unreadable or missing key file, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-key-'));
    expect(() => loadSecretKey({ file: join(dir, 'absent') })).toThrow(/cannot read the key file .*absent.*does not exist/);
    const sub = join(dir, 'adir');
    mkdirSync(sub);
    expect(() => loadSecretKey({ file: sub })).toThrow(/is a directory/);
    const short = join(dir, 'short');
    writeFileSync(short, randomBytes(20).toString('base64'));
    expect(() => loadSecretKey({ file: short })).toThrow(/decodes to 20 bytes/);
  });

});
