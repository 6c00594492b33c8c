import { describe, expect, it } from 'vitest';
import { daysLeft, maskToken, parseEmailInput, parseExpiresInput, parseTokenInput, TokenInputError } from '../../src/token/input.js';

describe('parseTokenInput', () => {
  it('takes the token as piped, dropping one trailing line break', () => {
    expect(parseTokenInput('abc123XYZ\n')).toBe('abc123XYZ');
    expect(parseTokenInput('abc123XYZ\r\n')).toBe('abc123XYZ');
    expect(parseTokenInput('abc123XYZ')).toBe('abc123XYZ');
  });
  it.each([
    ['', /no token on standard input.*never pass it as an argument/],
    ['\n', /no token on standard input/],
    ['abc def', /whitespace at character 4/],
    ['abc\ndef', /line break/],
    ['abc\n\n', /line break/],
    [' abc', /whitespace at character 1/],
    ['abc\tdef', /whitespace/],
    ['abc\u0000def', /control character/],
  ])('refuses %j', (raw, msg) => {
    expect(() => parseTokenInput(raw)).toThrow(TokenInputError);
    expect(() => parseTokenInput(raw)).toThrow(msg);
  });
});

describe('parseEmailInput', () => {
  it('lower-cases and trims', () => expect(parseEmailInput(' Bot@Example.COM ')).toBe('bot@example.com'));
  it('refuses a non-address', () => {
    expect(() => parseEmailInput('bot')).toThrow(/not an email address/);
    expect(() => parseEmailInput(undefined)).toThrow(TokenInputError);
  });
});

describe('parseExpiresInput', () => {
  const now = new Date('2026-11-28T12:00:00Z');
  it('defaults to 365 days after now', () => {
    expect(parseExpiresInput(undefined, now).toISOString()).toBe('2027-11-28T12:00:00.000Z');
  });
  it('reads YYYY-MM-DD as the start of that day, UTC', () => {
    expect(parseExpiresInput('2027-03-01', now).toISOString()).toBe('2027-03-01T00:00:00.000Z');
  });
  it('refuses past dates, impossible dates and other forms', () => {
    expect(() => parseExpiresInput('2026-11-28', now)).toThrow(/not in the future.*expired/);
    expect(() => parseExpiresInput('2027-02-30', now)).toThrow(/not a date.*YYYY-MM-DD/);
    expect(() => parseExpiresInput('01/03/2027', now)).toThrow(/not a date/);
  });
});

describe('daysLeft and maskToken', () => {
  it('counts whole days, negative once past', () => {
    const now = new Date('2026-11-28T12:00:00Z');
    expect(daysLeft(new Date('2026-12-28T12:00:00Z'), now)).toBe(30);
    expect(daysLeft(new Date('2026-12-28T11:00:00Z'), now)).toBe(29);
    expect(daysLeft(new Date('2026-11-27T12:00:00Z'), now)).toBe(-1);
  });
  it('shows at most the last 4 characters, none of a short token', () => {
    expect(maskToken('ATATT3xFfGF0abcdefghWXYZ')).toBe('****WXYZ');
    expect(maskToken('short-tok')).toBe('****');
  });
});
