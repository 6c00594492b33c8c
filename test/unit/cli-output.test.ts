// What the CLI prints carries values from outside (a pasted job id, a mail's subject in a table):
// terminal control sequences in them are shown, not obeyed; line ends and tabs stay.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { err, out } from '../../src/cli/output.js';

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
});
