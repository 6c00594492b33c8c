// The customer reply loop's pure parts (src/respond/): who is acknowledged, what the mail
// says and carries, and the config that shapes it.
import { describe, expect, it } from 'vitest';
import { respondSchema } from '../../src/config/respond-schema.js';
import { parseConfig } from '../../src/config/load.js';
import { decideAcknowledgement, type AckFacts } from '../../src/deliver/ack-decide.js';
import { ackHeaders, ackMessage, plainSubject } from '../../src/respond/message.js';
import { decideReply } from '../../src/deliver/reply-trust.js';
import { mailOnlyParticipants } from '../../src/deliver/mail-only.js';
import { rateKey } from '../../src/respond/rate.js';
import { commentText, CUT_NOTE } from '../../src/respond/comment-text.js';
import { DEFAULT_BLOCKED_LOCAL_PARTS } from '../../src/config/schema.js';

const respond = respondSchema.parse({});
const base: AckFacts = {
  respond,
  classification: 'human',
  sender: 'Nora@Customer.example',
  verdict: { result: 'pass', detail: 'mx: dmarc=pass' },
  ownAddresses: ['support@acme.example'],
  blockedLocalParts: DEFAULT_BLOCKED_LOCAL_PARTS,
  kind: 'issue',
  senderAccountId: undefined,
};

describe('decideAcknowledgement', () => {
  it.each<[string, Partial<AckFacts>, boolean, RegExp]>([
    ['a person with a verified From', {}, true, /new issue/],
    ['unverified (no authserv-id said anything): no mail to an address nobody vouched for', { verdict: { result: 'none', detail: 'none' } }, false, /did not verify/],
    ['suspected machine mail (a weak signal): never answered, so no loop', { suspected: 'auto-reply' }, false, /weak signal/],
    ['no respond section', { respond: undefined }, false, /no respond section/],
    ['acknowledge off', { respond: { ...respond, acknowledge: false } }, false, /acknowledge is off/],
    ['a bounce', { classification: 'bounce' }, false, /machine mail \(bounce\)/],
    ['an auto-reply', { classification: 'auto-reply' }, false, /machine mail/],
    ['list mail', { classification: 'list' }, false, /machine mail/],
    ['a forged From (DMARC fail)', { verdict: { result: 'fail', detail: 'mx: dmarc=fail' } }, false, /failed authentication/],
    ['our own address', { sender: 'SUPPORT@acme.example' }, false, /own address/],
    ['noreply', { sender: 'no-reply@vendor.example' }, false, /blocked local part/],
    ['mailer-daemon', { sender: 'MAILER-DAEMON@mx.example' }, false, /blocked local part/],
    ['no From', { sender: undefined }, false, /no usable From/],
    ['a JSM request for a customer account', { kind: 'request', senderAccountId: 'qm:1' }, false, /JSM notifies/],
    ['a JSM request without an account', { kind: 'request' }, true, /new issue/],
  ])('%s', (_name, over, send, why) => {
    const d = decideAcknowledgement({ ...base, ...over });
    expect(d.send).toBe(send);
    expect(d.why).toMatch(why);
  });

  it('links the issue only for a sender with an account, and mails the canonical address', () => {
    expect(decideAcknowledgement(base)).toMatchObject({ send: true, to: 'nora@customer.example', link: false });
    expect(decideAcknowledgement({ ...base, senderAccountId: 'abc' })).toMatchObject({ link: true });
  });
});

describe('the acknowledgement mail', () => {
  const c = { key: 'SUP-12', summary: 'Printer <on> fire', subject: 'Printer on fire', link: '', mailbox: 'support@acme.example' };

  it('has the key in the subject and no link when the customer cannot open it', () => {
    const m = ackMessage(respond.templates, c);
    expect(m.subject).toBe('[SUP-12] Printer on fire');
    expect(m.text).toContain('opened SUP-12');
    expect(m.text).not.toContain('http');
    expect(m.html).toBeUndefined();
  });

  it('escapes values in the HTML template and never lets a subject add a header line', () => {
    const t = respondSchema.parse({ templates: { acknowledgeSubject: '[{{key}}] {{subject}}', acknowledgeHtml: '<p>{{summary}} {{link}}</p>' } }).templates;
    const m = ackMessage(t, { ...c, subject: 'a\r\nBcc: x@evil.example', link: 'https://acme.atlassian.net/browse/SUP-12' });
    expect(m.subject).toBe('[SUP-12] a Bcc: x@evil.example');
    expect(m.html).toBe('<p>Printer &lt;on&gt; fire <a href="https://acme.atlassian.net/browse/SUP-12">https://acme.atlassian.net/browse/SUP-12</a></p>');
  });

  it('drops reply prefixes and our tag from the customer subject', () => {
    expect(plainSubject('Re: AW: [SUP-12] Printer', 'SUP-12')).toBe('Printer');
    expect(plainSubject('  ', 'SUP-12')).toBe('(no subject)');
  });

  it('says auto-replied and carries our loop header, but no Precedence', () => {
    const h = ackHeaders('{mailroom}', 'SUP-12', 'acme.example');
    expect(h['Auto-Submitted']).toBe('auto-replied');
    expect(h['X-Mailroom-Loop']).toBe('mailroom; install={mailroom}; domain=acme.example; issue=SUP-12; kind=acknowledge');
    expect(Object.keys(h).map((k) => k.toLowerCase())).not.toContain('precedence');
  });
});

describe('respond config', () => {
  const mk = (respondSection: unknown, smtp = true) =>
    parseConfig(
      {
        jira: { site: 'https://acme.atlassian.net' },
        mailboxes: [{ id: 'support', addresses: ['support@acme.example'], deliver: { project: 'SUP' }, respond: respondSection }],
        ...(smtp ? { smtp: { host: 'smtp.acme.example', from: 'mailroom@acme.example' } } : {}),
      },
      {},
    );

  it('defaults: acknowledge and comments on, 10 per recipient per hour', () => {
    const m = mk({}).mailboxes[0]!.respond!;
    expect(m).toMatchObject({ acknowledge: true, comments: true, maxPerRecipientPerHour: 10 });
  });

  it('names the bad key: an unknown placeholder, a missing smtp section, an unknown key', () => {
    expect(() => mk({ templates: { acknowledgeText: 'see {{issue}}' } })).toThrow(/mailboxes\[0\]\.respond\.templates\.acknowledgeText.*unknown placeholder \{\{issue\}\}/s);
    expect(() => mk({}, false)).toThrow(/mailboxes\[0\]\.respond.*needs an smtp section/s);
    expect(() => mk({ acknowlege: true })).toThrow(/acknowlege/);
    expect(() => mk({ maxPerRecipientPerHour: 0 })).toThrow(/maxPerRecipientPerHour/);
  });
});

describe('a reply to the mail Mailroom sent', () => {
  const facts = (email: string, auth: 'verified' | 'unverified' | 'failed' = 'verified') => ({
    policy: { replies: 'participants' as const, replyAllowed: [] },
    mailboxId: 'support',
    project: 'SUP',
    link: { source: 'thread' as const, issueKey: 'SUP-12', recordedBy: 'support', mailedTo: 'nora@customer.example' },
    issueProject: 'SUP',
    sender: { email, auth },
  });
  it('joins when it comes, verified, from the address that was mailed (its Message-ID is ours); not unverified (the id may have been passed on), not from anyone else', () => {
    expect(decideReply(facts('Nora@customer.example')).join).toBe(true);
    expect(decideReply(facts('nora@customer.example', 'unverified')).join).toBe(false);
    expect(decideReply(facts('mallory@evil.example')).join).toBe(false);
    expect(decideReply(facts('nora@customer.example', 'failed')).join).toBe(false);
  });
});

describe('who hears agents\' comments, and how often', () => {
  const facts = { sender: 'nora@customer.example', cc: ['a@victim-one.example', 'b@victim-two.example'], people: [], ownAddresses: ['support@acme.example'], blockedLocalParts: DEFAULT_BLOCKED_LOCAL_PARTS };

  it('keeps the sender and Cc\'s of a verified mail only: a forged or unverified one names nobody', () => {
    expect(mailOnlyParticipants({ ...facts, verdict: { result: 'pass', detail: 'mx: dmarc=pass' } })).toEqual(['nora@customer.example', 'a@victim-one.example', 'b@victim-two.example']);
    expect(mailOnlyParticipants({ ...facts, verdict: { result: 'fail', detail: 'mx: dmarc=fail' } })).toEqual([]);
    expect(mailOnlyParticipants({ ...facts, verdict: { result: 'none', detail: 'no header' } })).toEqual([]);
  });

  it('counts plus-addressed variants of one inbox under one ceiling', () => {
    expect(rateKey('{p}', 'V+1@X.example')).toBe(rateKey('{p}', 'v+2@x.example'));
    expect(rateKey('{p}', 'v+1@x.example')).toBe(rateKey('{p}', 'v@x.example'));
    expect(rateKey('{p}', 'v@x.example')).not.toBe(rateKey('{p}', 'w@x.example'));
  });
});

describe('an agent\'s comment as text', () => {
  const p = (...content: unknown[]) => ({ type: 'paragraph', content });
  const t = (text: string) => ({ type: 'text', text });

  it('keeps nested lists, tasks, emoji, dates and link targets; leaves files to the note', () => {
    const doc = {
      type: 'doc',
      content: [
        { type: 'bulletList', content: [{ type: 'listItem', content: [p(t('Clear the cache')), { type: 'bulletList', content: [{ type: 'listItem', content: [p(t('Chrome: Ctrl+Shift+Del'))] }] }] }] },
        { type: 'taskList', content: [{ type: 'taskItem', attrs: { state: 'DONE' }, content: [t('Logs read')] }, { type: 'taskItem', attrs: { state: 'TODO' }, content: [t('Call back')] }] },
        p(t('Fixed '), { type: 'emoji', attrs: { shortName: ':tada:', text: '🎉' } }, t(' on '), { type: 'date', attrs: { timestamp: '1796601600000' } }, t(': '), { type: 'text', text: 'notes', marks: [{ type: 'link', attrs: { href: 'https://acme.example/n' } }] }),
        { type: 'mediaSingle', content: [{ type: 'media', attrs: { id: 'f', alt: 'screen.png' } }] },
      ],
    };
    expect(commentText(doc)).toBe('- Clear the cache\n  - Chrome: Ctrl+Shift+Del\n\n[x] Logs read\n[ ] Call back\n\nFixed 🎉 on 2026-12-07: notes <https://acme.example/n>');
  });

  it('is bounded on a hostile document and says where it stopped; never throws on a body that is not ADF', () => {
    let deep: unknown = p(t('bottom'));
    for (let i = 0; i < 500; i++) deep = { type: 'blockquote', content: [deep] };
    const text = commentText({ type: 'doc', content: [p(t('top')), deep] });
    expect(text.startsWith('top\n\n>')).toBe(true);
    expect(text).not.toContain('bottom');
    expect(text.endsWith(CUT_NOTE)).toBe(true);
    const wide = { type: 'doc', content: Array.from({ length: 30_000 }, (_, i) => p(t(`w${i}`))) };
    expect(commentText(wide).endsWith(CUT_NOTE)).toBe(true);
    expect([commentText(undefined), commentText(null), commentText({ type: 'doc', content: 'x' }), commentText('v2 text')]).toEqual(['', '', '', 'v2 text']);
  });
});
