// A real receiving SMTP server (the smtp-server package) on a free loopback port, for the
// notifier's tests: it keeps every accepted message with its envelope, and can refuse chosen
// recipients at RCPT, answer 421 to DATA for a stretch of messages, or stall DATA (to kill a
// sender mid-send: a stalled message is never acknowledged, so it never counts as delivered),
// or take a message and answer it late (a sender killed meanwhile never learns it was accepted).
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface Received {
  from: string;
  to: string[];
  raw: Buffer;
  /** When the message was kept (end of DATA), ms since the epoch. */
  at: number;
}

export interface SmtpSink {
  port: number;
  received: Received[];
  /** Recipient -> reply code for RCPT TO (e.g. 550). */
  refuse: Map<string, number>;
  /** DATA of messages number `after+1 .. after+count` (1-based, counting every DATA) gets 421. */
  failWindow?: { after: number; count: number };
  /** DATA after this many accepted messages is never answered (until the client goes away). */
  stallAfter?: number;
  /**
   * Keep each message when its DATA ends, answer 250 this many ms later: a slow server, and the
   * window in which a sender can die with its message taken but not known to be taken.
   */
  answerDelayMs?: number;
  /** Messages kept whose 250 has not been sent yet (answerDelayMs). */
  unanswered: Set<Received>;
  /** Every DATA seen, accepted or not. */
  dataCount: number;
  stalled: number;
  close(): Promise<void>;
}

function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

/** Start on a free port, or on `port` (to bring a server back where the sender expects it). */
export async function startSmtpSink(port = 0): Promise<SmtpSink> {
  const sink: SmtpSink = {
    port: 0,
    received: [],
    refuse: new Map(),
    dataCount: 0,
    stalled: 0,
    unanswered: new Set(),
    close: async () => undefined,
  };
  const server = new SMTPServer({
    // Plain loopback SMTP without auth: what the notifier's tests configure (secure: false, no user).
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    // Stalled test connections must not hold close() for the default 30 s.
    closeTimeout: 500,
    disableReverseLookup: true,
    size: 10 * 1024 * 1024,
    onRcptTo(address, _session, cb) {
      const code = sink.refuse.get(address.address.toLowerCase());
      if (code) return cb(smtpError(code, code >= 500 ? 'No such user here' : 'Try again later'));
      cb();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const n = ++sink.dataCount;
        const w = sink.failWindow;
        if (w && n > w.after && n <= w.after + w.count) return cb(smtpError(421, 'Service not available, closing transmission channel'));
        if (sink.stallAfter !== undefined && sink.received.length >= sink.stallAfter) {
          sink.stalled++;
          return; // never answered: the sender waits until it dies or times out
        }
        const mailFrom = session.envelope.mailFrom;
        const got: Received = {
          from: mailFrom ? mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          raw: Buffer.concat(chunks),
          at: Date.now(),
        };
        sink.received.push(got);
        if (!sink.answerDelayMs) return cb();
        sink.unanswered.add(got);
        setTimeout(() => {
          sink.unanswered.delete(got);
          cb();
        }, sink.answerDelayMs);
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  sink.port = (server.server.address() as AddressInfo).port;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}

/** The header block of a raw message, unfolded, as name (lower-case) -> values. */
export function headersOf(raw: Buffer): Map<string, string[]> {
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const block = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const out = new Map<string, string[]>();
  for (const line of block.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    out.set(k, [...(out.get(k) ?? []), line.slice(i + 1).trim()]);
  }
  return out;
}
