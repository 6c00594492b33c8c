// Issue #14, finding 5: credentials never go out in clear. Real servers on this machine's
// non-loopback address that do not offer STARTTLS: an SMTP server with AUTH (smtp-server) and
// a minimal IMAP greeter. The notifier's transport and the poller's client refuse before
// sending a password, unless the config says `tls: none`; loopback keeps working as before.
import { createServer, type AddressInfo, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideTls } from '../../src/config/tls.js';
import { imapClient, imapTls } from '../../src/imap/connect.js';
import { silentLogger } from '../../src/core/log.js';
import { createMailer, smtpTls, type SmtpConfig } from '../../src/notify/mailer.js';

/** A non-loopback IPv4 address of this machine: traffic to it counts as "the network" here. */
const LAN = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

const PASSWORD = 'smtp-secret-9c1e';
const auths: string[] = [];
let smtp: SMTPServer;
let smtpPort: number;
let imap: Server;
let imapPort: number;
const imapLines: string[] = [];

beforeAll(async () => {
  smtp = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    disableReverseLookup: true,
    closeTimeout: 200,
    onAuth(auth, _s, cb) {
      auths.push(String(auth.password));
      cb(null, { user: auth.username });
    },
    onData(stream, _s, cb) {
      stream.resume();
      stream.on('end', () => cb());
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '0.0.0.0', r));
  smtpPort = (smtp.server.address() as AddressInfo).port;
  // IMAP without STARTTLS: answers CAPABILITY, records every line, accepts any LOGIN.
  imap = createServer((socket) => {
    socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n');
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        imapLines.push(line);
        const [tag, cmd] = line.split(' ');
        if (cmd?.toUpperCase() === 'CAPABILITY') socket.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n${tag} OK done\r\n`);
        else if (cmd?.toUpperCase() === 'LOGOUT') socket.end(`* BYE\r\n${tag} OK bye\r\n`);
        else socket.write(`${tag} OK done\r\n`);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => imap.listen(0, '0.0.0.0', r));
  imapPort = (imap.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((r) => smtp.close(r));
  await new Promise<void>((r) => imap.close(() => r()));
});

const smtpConfig = (host: string, over: Partial<SmtpConfig> = {}): SmtpConfig => ({ host, port: smtpPort, secure: false, user: 'notifier', from: 'mailroom@acme.example', bccBatchSize: 1, ...over });
const message = { from: 'mailroom@acme.example', recipients: ['a@acme.example'], bcc: false, subject: 's', text: 't', headers: {}, messageId: '<m@acme.example>' };

describe('SMTP to a server without STARTTLS', () => {
  it.skipIf(!LAN)('off loopback: refused before AUTH, the password never sent', async () => {
    auths.length = 0;
    const mailer = createMailer(smtpConfig(LAN!), PASSWORD);
    await expect(mailer.send(message)).rejects.toThrow(/STARTTLS/i);
    mailer.close();
    expect(auths).toEqual([]);
  });

  it.skipIf(!LAN)('off loopback with tls: none: sent in clear, as the config says (and the start log warns)', async () => {
    auths.length = 0;
    const cfg = smtpConfig(LAN!, { tls: 'none' });
    expect(smtpTls(cfg).warning).toMatch(/tls: none: the password and mail travel in clear/);
    const mailer = createMailer(cfg, PASSWORD);
    await mailer.send(message);
    mailer.close();
    expect(auths).toEqual([PASSWORD]);
  });

  it('on loopback: plain text is allowed without saying so (local relays, test sinks)', async () => {
    auths.length = 0;
    const mailer = createMailer(smtpConfig('127.0.0.1'), PASSWORD);
    await mailer.send(message);
    mailer.close();
    expect(auths).toEqual([PASSWORD]);
  });
});

describe('IMAP to a server without STARTTLS', () => {
  const settings = (host: string, tls: 'starttls' | 'none' | boolean) => ({ host, port: imapPort, tls, user: 'support', passwordEnv: 'X', folder: 'INBOX' });

  it.skipIf(!LAN)('off loopback: refused before LOGIN (tls: false reads as STARTTLS required)', async () => {
    for (const tls of ['starttls', false] as const) {
      imapLines.length = 0;
      const client = imapClient(settings(LAN!, tls), PASSWORD, silentLogger);
      client.on('error', () => undefined);
      await expect(client.connect()).rejects.toThrow(/STARTTLS/i);
      expect(imapLines.join('\n')).not.toMatch(/LOGIN|AUTHENTICATE/i);
      expect(imapLines.join('\n')).not.toContain(PASSWORD);
    }
  });

  it.skipIf(!LAN)('off loopback with tls: none: logs in, as the config says', async () => {
    imapLines.length = 0;
    expect(imapTls(settings(LAN!, 'none')).warning).toMatch(/in clear/);
    const client = imapClient(settings(LAN!, 'none'), PASSWORD, silentLogger);
    client.on('error', () => undefined);
    await client.connect().catch(() => undefined);
    await client.logout().catch(() => undefined);
    expect(imapLines.join('\n')).toMatch(/LOGIN|AUTHENTICATE/i);
  });
});

describe('decideTls', () => {
  const cases: [string, string, Parameters<typeof decideTls>[3], string, boolean][] = [
    ['implicit by default (IMAP)', 'mail.acme.example', undefined, 'implicit', false],
    ['true is implicit', 'mail.acme.example', true, 'implicit', false],
    ['false is STARTTLS, required off loopback', 'mail.acme.example', false, 'starttls', false],
    ['false on loopback: STARTTLS when offered', '127.0.0.1', false, 'starttls', true],
    ['explicit starttls on loopback is required too', 'localhost', 'starttls', 'starttls', false],
    ['[::1] is loopback', '[::1]', false, 'starttls', true],
    ['127.0.0.2 is loopback', '127.0.0.2', false, 'starttls', true],
    ['a name that starts with 127. is not', '127.evil.example', false, 'starttls', false],
  ];
  it.each(cases)('%s', (_n, host, tls, mode, opportunistic) => {
    const d = decideTls('IMAP', host, 993, tls, 'implicit');
    expect(d.mode).toBe(mode);
    expect(d.opportunistic).toBe(opportunistic);
    expect(d.warning).toBeUndefined();
  });
  it('warns only for tls: none off loopback', () => {
    expect(decideTls('SMTP', 'smtp.acme.example', 25, 'none', 'starttls').warning).toMatch(/SMTP smtp.acme.example:25 is configured with tls: none/);
    expect(decideTls('SMTP', '127.0.0.1', 25, 'none', 'starttls').warning).toBeUndefined();
  });
});
