// The exit-code table (src/core/exit-codes.ts) and its page for people (docs/exit-codes.md)
// say the same; role entries parse their arguments strictly (src/roles/entry-args.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT, NO_RESTART_EXITS } from '../../src/core/exit-codes.js';
import { parseEntryArgs } from '../../src/roles/entry-args.js';
import { KEY_MISMATCH_EXIT } from '../../src/token/key.js';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'exit-codes.md'), 'utf8');

describe('the exit-code table', () => {
  it('lists every code of the module, by name, in docs/exit-codes.md, and no other', () => {
    const rows = [...doc.matchAll(/^\| (\d+) \| (\w+) \|/gm)].map((m) => [m[2], Number(m[1])]);
    expect(Object.fromEntries(rows)).toEqual(EXIT);
  });
  it('keeps what the commands promised (2 bad config, 3 Redis, 4 Jira) and puts a refused key with bad config', () => {
    expect([EXIT.usage, EXIT.unavailable, EXIT.jiraUnavailable]).toEqual([2, 3, 4]);
    expect(KEY_MISMATCH_EXIT).toBe(EXIT.usage);
    expect(doc).toContain(`RestartPreventExitStatus=${NO_RESTART_EXITS.join(' ')}`);
  });
});

describe('role entry arguments', () => {
  const spec = { version: 'mailroom resolver 0.1.0 (commit abc, node 24)' };
  it('takes --config/-c and the log form', () => {
    expect(parseEntryArgs('resolver', ['-c', 'x.yml'], spec)).toEqual({ run: { config: 'x.yml', pretty: undefined, noAuth: false } });
    expect(parseEntryArgs('resolver', ['--config=y.yml', '--no-pretty'], spec)).toEqual({ run: { config: 'y.yml', pretty: false, noAuth: false } });
  });
  it('answers --help and --version with exit 0', () => {
    expect(parseEntryArgs('resolver', ['--help'], spec)).toMatchObject({ exit: 0, stdout: expect.stringContaining('--config') });
    expect(parseEntryArgs('resolver', ['-V'], spec)).toMatchObject({ exit: 0, stdout: 'mailroom resolver 0.1.0 (commit abc, node 24)\n' });
  });
  it('refuses unknown arguments, positionals, a missing value and --no-auth outside the web role, with exit 2', () => {
    for (const argv of [['--bogus'], ['-config', 'x'], ['start'], ['--config'], ['--no-auth'], ['--pretty', '--no-pretty']]) {
      const r = parseEntryArgs('resolver', argv, spec);
      expect(r, argv.join(' ')).toMatchObject({ exit: 2, stderr: expect.stringMatching(/^mailroom resolver: /) });
    }
    expect(parseEntryArgs('web', ['--no-auth'], { ...spec, noAuth: true })).toEqual({ run: { config: undefined, pretty: undefined, noAuth: true } });
  });
});
