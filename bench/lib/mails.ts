// The mail a run sends: real multipart RFC 822 mails from a population of senders (some known
// to Jira, some not; a few write a lot), appended over IMAP on one kept-open connection.
import { ImapFlow } from 'imapflow';
import { rawMail } from '../../test/helpers/deliver-testkit.js';
import { seeded } from '../../test/helpers/sim-run.js';
import type { SimState } from '../../src/jira-sim/index.js';
import type { Dovecot } from '../../test/helpers/dovecot.js';
import { BENCH_AUTHSERV_ID, SUPPORT_ADDRESS } from './rig.js';

export interface BenchMail {
  messageId: string;
  sender: string;
  raw: Buffer;
}

export interface Population {
  known: string[];
  unknown: string[];
}

/** `senders` senders, `unknown` of them new to Jira; the known ones are added to the simulator. */
export function population(state: SimState, o: { senders: number; unknown: number; tag: string }): Population {
  const unknown = Array.from({ length: o.unknown }, (_, i) => `new${i}.${o.tag}@customer${i % 7}.example`);
  const known = Array.from({ length: o.senders - o.unknown }, (_, i) => `known${i}.${o.tag}@partner${i % 5}.example`);
  for (const email of known) state.addAccount({ email, displayName: `Person ${email.split('@')[0]}`, products: ['jira-software'] });
  return { known, unknown };
}

const PARAGRAPH = 'Our printer on the third floor stops after a few pages and shows error 0x42. We restarted it twice; the queue clears but the next job stalls again. ';

/** `count` mails; every sender writes at least once, then low-index senders write more. */
export function makeMails(pop: Population, o: { count: number; tag: string; seed?: number; bodyBytes?: number }): BenchMail[] {
  const rand = seeded(o.seed ?? 11);
  const senders = [...pop.unknown, ...pop.known];
  const body = PARAGRAPH.repeat(Math.max(1, Math.round((o.bodyBytes ?? 1500) / PARAGRAPH.length)));
  return Array.from({ length: o.count }, (_, i) => {
    const sender = i < senders.length ? senders[i]! : senders[Math.floor(rand() ** 2 * senders.length)]!;
    const messageId = `${o.tag}-${i}@bench.example`;
    const domain = sender.slice(sender.lastIndexOf('@') + 1);
    const verdict = `Authentication-Results: ${BENCH_AUTHSERV_ID}; spf=pass smtp.mailfrom=${domain}; dkim=pass header.d=${domain}; dmarc=pass header.from=${domain}`;
    const raw = rawMail({ from: `Person ${sender.split('@')[0]} <${sender}>`, to: SUPPORT_ADDRESS, subject: `Printer trouble ${o.tag} #${i}`, messageId, headers: [verdict], text: `Hello,\n\n${body}\n\nThanks, mail ${i}`, date: new Date() });
    return { messageId, sender, raw };
  });
}

export interface Appender {
  /** Append one mail; resolves with its UID and the time the server acknowledged it (epoch ms). */
  append(raw: Buffer, folder?: string): Promise<{ uid: number | undefined; at: number }>;
  /** Move every message of `from` into `to` in one command; resolves with the time it was done. */
  moveAll(from: string, to: string): Promise<number>;
  close(): Promise<void>;
}

/** One IMAP connection kept open for appends, reconnecting when the server went away. */
export function appender(dovecot: Dovecot, user?: string): Appender {
  let client: ImapFlow | undefined;
  const folders = new Set(['INBOX']);
  const connect = async () => {
    if (client?.usable) return client;
    client = await dovecot.client(user);
    client.on('error', () => undefined);
    return client;
  };
  return {
    async append(raw, folder = 'INBOX') {
      for (let attempt = 0; ; attempt++) {
        try {
          const c = await connect();
          if (!folders.has(folder)) {
            await c.mailboxCreate(folder).catch(() => undefined);
            folders.add(folder);
          }
          const r = await c.append(folder, raw);
          return { uid: r ? r.uid : undefined, at: Date.now() };
        } catch (e) {
          client = undefined;
          if (attempt >= 50) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async moveAll(from, to) {
      const c = await connect();
      const lock = await c.getMailboxLock(from);
      try {
        await c.messageMove('1:*', to);
        return Date.now();
      } finally {
        lock.release();
      }
    },
    async close() {
      await client?.logout().catch(() => client?.close());
    },
  };
}

/** Strip the angle brackets a Message-ID may carry, so ids from different places compare. */
export function bareId(id: string | undefined): string | undefined {
  return id?.trim().replace(/^<|>$/g, '');
}
