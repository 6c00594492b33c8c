// The demo's stand-in for the customers' mail servers: a real SMTP server (the smtp-server
// package) on an ephemeral loopback port that accepts every message and keeps it, so the demo
// can show what Mailroom mailed to customers. Loopback only, no TLS and no AUTH: nothing off
// this machine can reach it, and the notifier's config allows plain SMTP only on loopback.
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import { LOOP_HEADER_KEY, parseLoopHeader } from '../mail/loop.js';

export interface SinkMail {
  from: string;
  to: string;
  subject: string;
  inReplyTo: string;
  /** What Mailroom says the mail is (its loop header's `kind`: acknowledge, comment). */
  kind: string;
  text: string;
}

export interface DemoSmtpSink {
  port: number;
  /** Every accepted message, parsed, in the order the server accepted them. */
  received: SinkMail[];
  close(): Promise<void>;
}

/** A message bigger than this is refused: the demo's mails are a few KB. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

export async function startDemoSmtpSink(): Promise<DemoSmtpSink> {
  const received: SinkMail[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    disableReverseLookup: true,
    size: MAX_MESSAGE_BYTES,
    // Stop at once at the demo's end: a client still connected must not hold it for 30 s.
    closeTimeout: 500,
    onData(stream: SMTPServerDataStream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase()).join(', ');
        simpleParser(Buffer.concat(chunks), { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true }).then(
          (m) => {
            const loop = parseLoopHeader(String(m.headers.get(LOOP_HEADER_KEY) ?? ''));
            received.push({ from: m.from?.value[0]?.address ?? '', to, subject: m.subject ?? '', inReplyTo: m.inReplyTo ?? '', kind: loop?.kind ?? '-', text: m.text ?? '' });
            cb();
          },
          (e: unknown) => cb(e as Error),
        );
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
