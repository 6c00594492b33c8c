// A real receiving SMTP server (the smtp-server package) on a loopback port that keeps every
// message it accepts, with its envelope: the demo's stand-in for the customers' mail servers (to
// show what Mailroom mailed them), and the notifier's and the reply loop's test server, which can
// also misbehave on purpose: refuse chosen recipients at RCPT, answer 421 to DATA for a stretch
// of messages, stall DATA (a stalled message is never acknowledged, so it never counts as
// delivered), or take a message and answer it late (a sender killed meanwhile never learns it was
// accepted). Loopback only, no TLS and no AUTH: nothing off this machine can reach it, and the
// notifier's config allows plain SMTP only on loopback.
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { LOOP_HEADER_KEY, parseLoopHeader } from '../mail/loop.js';

export interface Received {
  from: string;
  to: string[];
  raw: Buffer;
  /** When the message was kept (end of DATA), ms since the epoch. */
  at: number;
}

export interface SmtpSink {
  port: number;
  /** Every accepted message, in the order the server kept them. */
  received: Received[];
  /** Recipient -> reply code for RCPT TO (e.g. 550). */
  refuse: Map<string, number>;
  /** The text of those RCPT refusals (default: "No such user here" / "Try again later"). */
  refuseText?: string;
  /** A reply code for every MAIL FROM (e.g. 553: this sender is not allowed), while set. */
  refuseSender?: number;
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

export interface SmtpSinkOptions {
  /** Listen here (to bring a server back where the sender expects it); default a free port. */
  port?: number;
  /** A bigger message is refused at DATA (SIZE). Default 10 MiB. */
  maxBytes?: number;
}

function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

export async function startSmtpSink(opts: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const sink: SmtpSink = { port: 0, received: [], refuse: new Map(), dataCount: 0, stalled: 0, unanswered: new Set(), close: async () => undefined };
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    // A client still connected (or a stalled test connection) must not hold close() for 30 s.
    closeTimeout: 500,
    disableReverseLookup: true,
    size: opts.maxBytes ?? 10 * 1024 * 1024,
    onMailFrom(_address, _session, cb) {
      const code = sink.refuseSender;
      if (code) return cb(smtpError(code, code >= 500 ? '5.7.1 Sender address rejected: not owned by user' : 'Try again later'));
      cb();
    },
    onRcptTo(address, _session, cb) {
      const code = sink.refuse.get(address.address.toLowerCase());
      if (code) return cb(smtpError(code, sink.refuseText ?? (code >= 500 ? 'No such user here' : 'Try again later')));
      cb();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => keep(sink, session, Buffer.concat(chunks), cb));
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  sink.port = (server.server.address() as AddressInfo).port;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}

/** End of DATA: refuse, stall, or keep the message and answer now or late, as the sink is set. */
function keep(sink: SmtpSink, session: SMTPServerSession, raw: Buffer, cb: (e?: Error | null) => void): void {
  const n = ++sink.dataCount;
  const w = sink.failWindow;
  if (w && n > w.after && n <= w.after + w.count) return cb(smtpError(421, 'Service not available, closing transmission channel'));
  if (sink.stallAfter !== undefined && sink.received.length >= sink.stallAfter) {
    sink.stalled++;
    return; // never answered: the sender waits until it dies or times out
  }
  const mailFrom = session.envelope.mailFrom;
  const got: Received = { from: mailFrom ? mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), raw, at: Date.now() };
  sink.received.push(got);
  if (!sink.answerDelayMs) return cb();
  sink.unanswered.add(got);
  setTimeout(() => {
    sink.unanswered.delete(got);
    cb();
  }, sink.answerDelayMs);
}

/** What the demo shows of one mail it received. */
export interface SinkMail {
  from: string;
  to: string;
  subject: string;
  inReplyTo: string;
  /** What Mailroom says the mail is (its loop header's `kind`: acknowledge, comment). */
  kind: string;
  text: string;
}

export async function readSinkMail(r: Received): Promise<SinkMail> {
  const m = await simpleParser(r.raw, { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true });
  const loop = parseLoopHeader(String(m.headers.get(LOOP_HEADER_KEY) ?? ''));
  return { from: m.from?.value[0]?.address ?? '', to: r.to.join(', '), subject: m.subject ?? '', inReplyTo: m.inReplyTo ?? '', kind: loop?.kind ?? '-', text: m.text ?? '' };
}
