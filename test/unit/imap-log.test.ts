// imapflow serializes each command and response a second time for its log when its logger says
// the level is on. A poller not at debug must say no to everything (or every fetched mail is
// compiled into a string that goes nowhere), and one at debug still never to trace: those lines
// are FETCH responses, whole mails.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { imapClient } from '../../src/imap/connect.js';

// The check imapflow makes before it serializes a line for its log (internal to imapflow, typed here).
const levelOn = (client: unknown, level: string) => (client as { isLogLevelEnabled(l: string): boolean }).isLogLevelEnabled(level);

const imap = { host: '127.0.0.1', port: 1143, user: 'u', tls: 'none' } as unknown as Parameters<typeof imapClient>[0];

describe("imapflow's log levels", () => {
  it('are all off for a poller at info', () => {
    const client = imapClient(imap, 'pw', createLogger({ level: 'info' }));
    for (const level of ['trace', 'debug', 'info', 'warn', 'error']) expect(levelOn(client, level), level).toBe(false);
  });

  it('are on at debug, except trace (mail content)', () => {
    const client = imapClient(imap, 'pw', createLogger({ level: 'debug' }));
    expect(levelOn(client, 'debug')).toBe(true);
    expect(levelOn(client, 'trace')).toBe(false);
  });
});
