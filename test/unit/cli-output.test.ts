// What the CLI prints carries values from outside (a pasted job id, a mail's subject in a table):
// terminal control sequences in them are shown, not obeyed; line ends and tabs stay.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { err, out, table } from '../../src/cli/output.js';

afterEach(() => vi.restoreAllMocks());

describe('CLI output', () => {
  it('replaces ESC sequences, CR and C1 controls, keeps newlines and tabs', () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (written.push(String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (written.push(String(s)), true));
    out('job "x\x1b]0;pwn\x07\r\nFAKE: line" not found\tcol');
    err('bad \x9b2J value');
    // eslint-disable-next-line no-control-regex
    expect(written.join('')).not.toMatch(/[\x1b\x07\r\x9b]/);
    expect(written[0]).toBe('job "x\uFFFD]0;pwn\uFFFD\uFFFD\nFAKE: line" not found\tcol\n');
    expect(written[1]).toBe('bad \uFFFD2J value\n');
  });

  it('shows bidi controls as U+FFFD too', () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (written.push(String(s)), true));
    out('invoice\u202efdp.exe \u2066x\u2069');
    expect(written[0]).toBe('invoice\uFFFDfdp.exe \uFFFDx\uFFFD\n');
  });

  it('keeps a table one row per row and bounded, whatever a cell holds', () => {
    const t = table(
      ['JOB', 'SUBJECT', 'REASON'],
      [
        ['mail-inbound/a', 'hi\nmail-inbound/forged  x  y', 'r'],
        ['m'.repeat(100_000), 'S'.repeat(1_000_000), 'R'.repeat(1_000_000)],
      ],
    );
    const lines = t.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^mail-inbound\/a +hi mail-inbound\/forged x y +r$/);
    expect(t.length).toBeLessThan(5_000);
  });
});
