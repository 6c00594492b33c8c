import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFromLine, looksLikeMbox, splitMbox } from '../../src/mail/mbox.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'mail');

describe('splitMbox', () => {
  it('splits on From_ lines, unquotes >From, keeps unquoted body "From " lines inside the message', () => {
    const parts = splitMbox(readFileSync(join(FIXTURES, 'two-messages-with-from-quoting.mbox'))).map((b) => b.toString('utf8'));
    expect(parts).toHaveLength(2);
    expect(parts[0]).toBe(
      'From: alice@example.com\nTo: support@example.com\nSubject: first\nMessage-ID: <mbox1@example.com>\n\n' +
        'First message.\nFrom here on, a quoted From line.\nFrom time to time an unquoted one.\n',
    );
    expect(parts[1]).toContain('Subject: second');
    expect(parts[1]).toContain('\n>From doubly quoted.\n');
    expect(parts[1]).not.toMatch(/^From /);
  });

  it('reads a long unquoted body line starting "From " in linear time, as part of its message', () => {
    // 400 KB of times without a year: the From_ pattern alone backtracks for minutes on it.
    const hostile = 'From x ' + '1:11 '.repeat(80_000);
    const started = performance.now();
    const parts = splitMbox(Buffer.from(`From a@b Thu Sep 18 17:54:04 2008\nSubject: x\n\n${hostile}\nend\n`));
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.toString()).toContain(hostile);
  });

  it('keeps CRLF line endings and 8-bit bytes exactly', () => {
    const body = Buffer.concat([
      Buffer.from('From a@b Thu Sep 18 17:54:04 2008\r\nSubject: x\r\n\r\n'),
      Buffer.from([0xe9, 0xff, 0x0d, 0x0a]),
      Buffer.from('\r\nFrom c@d Thu Sep 18 17:55:04 2008\r\nSubject: y\r\n\r\nz\r\n'),
    ]);
    const parts = splitMbox(body);
    expect(parts).toHaveLength(2);
    expect(parts[0]).toEqual(Buffer.concat([Buffer.from('Subject: x\r\n\r\n'), Buffer.from([0xe9, 0xff, 0x0d, 0x0a])]));
    expect(parts[1]!.toString()).toBe('Subject: y\r\n\r\nz\r\n');
  });

  it('returns nothing for an empty file, and one message for a file that is not an mbox', () => {
    expect(splitMbox(Buffer.alloc(0))).toEqual([]);
    expect(splitMbox(Buffer.from('Subject: plain\n\nbody\n')).map(String)).toEqual(['Subject: plain\n\nbody\n']);
  });
});

describe('From_ line detection', () => {
  it.each([
    ['From MAILER-DAEMON Thu Sep 18 17:54:04 2008', true],
    ['From MAILER-DAEMON  Sat Oct  4 08:00:09 2025', true],
    ['From MAILER-DAEMON Sun Aug  7 11:40:37 2022 extra info', true],
    ['From - Mon Nov  2 10:00 2026', true],
    ['From time to time', false],
    ['From: alice@example.com', false],
    ['>From a@b Thu Sep 18 17:54:04 2008', false],
  ])('%s -> %s', (line, expected) => {
    expect(isFromLine(line)).toBe(expected);
  });

  it('tells an mbox from a single message by its first line', () => {
    expect(looksLikeMbox(Buffer.from('From a@b Thu Sep 18 17:54:04 2008\nSubject: x\n'))).toBe(true);
    expect(looksLikeMbox(Buffer.from('Return-Path: <a@b>\nFrom a@b Thu Sep 18 17:54:04 2008\n'))).toBe(false);
  });
});
