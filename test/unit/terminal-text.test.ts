// Outside text made safe for a terminal (src/core/terminal-text.ts): what a terminal would obey
// is shown as U+FFFD, a value for one line stays one bounded line, and a suggested command line
// stands for exactly the value it names when pasted into a real shell.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { inline, isPlain, jsonLineSafe, shellWord, terminalSafe } from '../../src/core/terminal-text.js';

const ESC = '\x1b';

describe('terminalSafe', () => {
  it('shows ESC, CR, BEL, DEL, C1, bidi controls and Unicode line separators as U+FFFD; keeps newlines and tabs', () => {
    const attacks = [
      `${ESC}[31m`, // CSI colour
      `${ESC}]8;;https://evil.example/\x07`, // OSC 8 hyperlink
      `${ESC}]52;c;cm0gLXJmIH4=\x07`, // OSC 52 clipboard write
      '\r', '\x07', '\x7f', '\u0085', '\u009b', // CR, BEL, DEL, NEL, C1 CSI
      '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c',
      '\u2028', '\u2029',
    ];
    for (const a of attacks) {
      // eslint-disable-next-line no-control-regex
      expect(terminalSafe(`a${a}b`), JSON.stringify(a)).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/);
    }
    expect(terminalSafe(`x${ESC}[2Jy`)).toBe('x\uFFFD[2Jy');
    expect(terminalSafe('line one\n\tline two')).toBe('line one\n\tline two');
    expect(terminalSafe('Zoë 日本 🎉 שלום')).toBe('Zoë 日本 🎉 שלום'); // text is text, right-to-left scripts included
  });
});

describe('inline', () => {
  it('makes one line: a newline cannot start a forged row', () => {
    expect(inline('Printer jams\nmail-inbound/support:1:99  forged\r\n')).toBe('Printer jams mail-inbound/support:1:99 forged');
    expect(inline(`a\u202eb${ESC}c`)).toBe('a\uFFFDb\uFFFDc');
    expect(inline(undefined)).toBe('');
    expect(inline(42)).toBe('42');
  });

  it('cuts at max code points with an ellipsis, never inside a surrogate pair', () => {
    expect(inline('abcdef', 4)).toBe('abc…');
    expect(inline('🎉🎉🎉🎉🎉', 3)).toBe('🎉🎉…');
    expect(inline('abc', 3)).toBe('abc');
  });

  it('bounds the work and the result for a megabyte value', () => {
    const out = inline('S'.repeat(1_000_000) + '\nforged', 300);
    expect(Array.from(out)).toHaveLength(300);
    expect(out.endsWith('…')).toBe(true);
    // Only the first 4 x max units are read: the 'x' a megabyte of whitespace later is never seen
    // (were the whole value read, the answer would be 'x'). No timing: speed lives in the bench.
    expect(inline(' '.repeat(1_000_000) + 'x', 10)).toBe('…');
  });
});

describe('jsonLineSafe', () => {
  it('writes C1, DEL and bidi controls in a JSON line as escapes: the same value to a JSON reader', () => {
    const value = { jobId: `deliver|support|<a\u202eb\u009b2J\x7f\u2066c${ESC}\n@x>`, msg: 'Zoë שלום' };
    const line = jsonLineSafe(JSON.stringify(value)) + '\n';
    // eslint-disable-next-line no-control-regex
    expect(line.slice(0, -1)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(line).toContain('\\u202e');
    expect(JSON.parse(line)).toEqual(value);
  });
});

describe('shellWord', () => {
  it('stands for exactly the value in a real shell, running nothing', () => {
    const values = [`x'$(touch /tmp/should-not-exist-${process.pid})'y@evil.example`, 'a"b`id`$HOME\\', "''", 'plain@example.com', '; rm -rf ~ #'];
    for (const v of values) {
      const got = execFileSync('sh', ['-c', `printf '%s' ${shellWord(v)}`]).toString();
      expect(got).toBe(v);
    }
  });

  it('isPlain says when a value prints as written (else a command should name the mail otherwise)', () => {
    expect(isPlain(`CAF=abc'$(id)'@mail.example`)).toBe(true);
    expect(isPlain('a\nb@x')).toBe(false);
    expect(isPlain(`a${ESC}[31m@x`)).toBe(false);
    expect(isPlain('m'.repeat(400))).toBe(false);
  });
});
