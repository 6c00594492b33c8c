import { describe, expect, it } from 'vitest';
import { classify, parseContentType, type ClassifyInput } from '../../src/mail/classify.js';
import { LOOP_HEADER, LOOP_HEADER_KEY, loopHeaderValue, parseLoopHeader } from '../../src/mail/loop.js';
import type { ClassificationKind } from '../../src/mail/record.js';

const DSN = 'multipart/report; report-type=delivery-status';

interface Row {
  name: string;
  input: ClassifyInput;
  kind: ClassificationKind;
  /** A fragment the reason must contain: it names what decided. */
  reason: RegExp;
  /** For a person's mail that a weak signal marks (issue 23). */
  suspected?: 'bounce' | 'auto-reply' | 'feedback-report' | 'list';
}

const human = (over: Partial<ClassifyInput> = {}): ClassifyInput => ({
  headers: {},
  from: 'alice@example.com',
  subject: 'Printer on floor 3 is jammed',
  ...over,
});

const rows: Row[] = [
  // Bounces, by structure and by sender.
  { name: 'DSN multipart/report', input: human({ headers: { 'content-type': DSN } }), kind: 'bounce', reason: /report-type=delivery-status/ },
  {
    name: 'DSN report-type quoted and upper-case',
    input: human({ headers: { 'content-type': 'Multipart/Report; Report-Type="Delivery-Status"' } }),
    kind: 'bounce',
    reason: /delivery-status/,
  },
  {
    name: 'DSN wins over Auto-Submitted (bounces carry it too)',
    input: human({ headers: { 'content-type': DSN, 'auto-submitted': 'auto-replied' } }),
    kind: 'bounce',
    reason: /delivery-status/,
  },
  {
    name: 'DSN wins over a List-Id',
    input: human({ headers: { 'content-type': DSN, 'list-id': '<dev.lists.example.org>' } }),
    kind: 'bounce',
    reason: /delivery-status/,
  },
  {
    name: 'a message/delivery-status part inside multipart/mixed',
    input: human({ headers: { 'content-type': 'multipart/mixed' }, partTypes: ['text/plain', 'message/delivery-status'] }),
    kind: 'bounce',
    reason: /message\/delivery-status part/,
  },
  { name: 'MAILER-DAEMON sender', input: human({ from: 'mailer-daemon@mx.example.net', subject: 'failure notice' }), kind: 'bounce', reason: /mailer-daemon@/ },
  // postmaster is the site's mail administrator, a person's mailbox too (RFC 5321 §4.5.1).
  { name: 'postmaster sender alone: a weak signal', input: human({ from: 'postmaster@example.net', subject: 'hi' }), kind: 'human', reason: /^From: postmaster@example\.net \(postmaster/, suspected: 'bounce' },
  { name: 'postmaster with a delivery-failure subject', input: human({ from: 'postmaster@example.net', subject: 'Undeliverable: hi' }), kind: 'bounce', reason: /postmaster\) with a delivery-failure subject/ },
  { name: 'Exim X-Failed-Recipients', input: human({ headers: { 'x-failed-recipients': 'bob@example.org' } }), kind: 'bounce', reason: /X-Failed-Recipients/ },
  { name: 'null Return-Path alone', input: human({ headers: { 'return-path': '<>' } }), kind: 'bounce', reason: /Return-Path: <>/ },
  {
    name: 'null Return-Path, Auto-Submitted and a failure subject',
    input: human({ headers: { 'return-path': '<>', 'auto-submitted': 'auto-replied' }, subject: 'Undeliverable: Invoice 42' }),
    kind: 'bounce',
    reason: /delivery-failure subject/,
  },
  {
    name: 'sender name only ("Mail Delivery System") with a failure subject',
    input: { headers: {}, fromName: 'Mail Delivery System', subject: 'Undelivered Mail Returned to Sender' },
    kind: 'bounce',
    reason: /Mail Delivery System/,
  },
  {
    name: 'failure subject alone is a weak signal: delivered, marked as a suspected bounce',
    input: human({ from: 'relay@example.net', subject: 'Returned mail: see transcript for details' }),
    kind: 'human',
    reason: /weak signal/,
    suspected: 'bounce',
  },

  {
    name: 'a no-reply sender with a looser failure subject',
    input: human({ from: 'no-reply@mail.example.jp', subject: 'メールエラー通知' }),
    kind: 'bounce',
    reason: /no-reply sender/,
  },
  {
    name: 'a customer writing about a parcel that was "not delivered" is a person',
    input: human({ subject: 'My order was not delivered' }),
    kind: 'human',
    reason: /no automated/,
  },
  {
    name: 'a person forwarding a bounce to ask about it is a person',
    input: human({ subject: 'Fwd: Returned mail: see transcript for details' }),
    kind: 'human',
    reason: /no automated/,
  },

  // Feedback reports.
  {
    name: 'ARF multipart/report',
    input: human({ headers: { 'content-type': 'multipart/report; report-type=feedback-report' } }),
    kind: 'feedback-report',
    reason: /ARF/,
  },
  {
    name: 'ARF part without the report content type',
    input: human({ headers: { 'content-type': 'multipart/mixed' }, partTypes: ['message/feedback-report', 'message/rfc822'] }),
    kind: 'feedback-report',
    reason: /feedback-report part/,
  },
  {
    name: 'ARF from postmaster is still a feedback report, not a bounce',
    input: human({ from: 'postmaster@isp.example', headers: { 'content-type': 'multipart/report; report-type=feedback-report' } }),
    kind: 'feedback-report',
    reason: /ARF/,
  },
  {
    name: 'Amazon SES complaint over SNS',
    input: human({ headers: { 'x-amz-sns-message-id': 'abc' }, text: '{"notificationType":"Complaint","complaint":{}}' }),
    kind: 'feedback-report',
    reason: /notificationType complaint/,
  },
  {
    name: 'Amazon SES bounce over SNS, JSON escaped in the envelope',
    input: human({ headers: { 'x-amz-sns-message-id': 'abc' }, text: '{ "Type" : "Notification", "Message" : "{\\"notificationType\\":\\"Bounce\\"}" }' }),
    kind: 'bounce',
    reason: /notificationType bounce/,
  },
  {
    name: 'an SNS mail that is not an SES notification is not a bounce',
    input: human({ headers: { 'x-amz-sns-message-id': 'abc' }, text: 'Your alarm went off' }),
    kind: 'human',
    reason: /no automated-mail markers/,
  },

  // Our own mail.
  {
    name: 'our loop header',
    input: human({ headers: { [LOOP_HEADER_KEY]: loopHeaderValue('{mailroom}', { issue: 'SUP-1' }) } }),
    kind: 'own',
    reason: /X-Mailroom-Loop: mailroom; install=\{mailroom\}; issue=SUP-1/,
  },
  {
    name: 'our loop header naming our domain (smtp.from\'s, either form of an IDN)',
    input: human({ headers: { [LOOP_HEADER_KEY]: loopHeaderValue('mailroom', { domain: 'xn--bcher-kva.example', kind: 'comment' }) }, notificationDomains: ['bücher.example'] }),
    kind: 'own',
    reason: /X-Mailroom-Loop: mailroom; install=mailroom; domain=xn--bcher-kva\.example/,
  },
  {
    name: 'an older Mailroom\'s loop header (no domain) is still ours, whatever domain we know',
    input: human({ headers: { [LOOP_HEADER_KEY]: 'mailroom; install=mailroom; issue=SUP-1' }, notificationDomains: ['acme.example'] }),
    kind: 'own',
    reason: /X-Mailroom-Loop/,
  },
  {
    name: 'another company\'s Mailroom: its agent\'s reply to this support address is a person\'s mail',
    input: human({ headers: { [LOOP_HEADER_KEY]: 'mailroom; install=mailroom; domain=vendor.example; issue=VEN-7; kind=comment' }, notificationDomains: ['acme.example'] }),
    kind: 'human',
    reason: /no automated-mail markers/,
  },
  {
    name: 'another company\'s Mailroom acknowledgement: automatic, by its Auto-Submitted',
    input: human({ headers: { [LOOP_HEADER_KEY]: 'mailroom; install=mailroom; domain=vendor.example; kind=acknowledge', 'auto-submitted': 'auto-replied' }, notificationDomains: ['acme.example'] }),
    kind: 'auto-reply',
    reason: /Auto-Submitted: auto-replied/,
  },
  {
    name: 'our loop header wins over Auto-Submitted (our notifications set it)',
    input: human({ headers: { [LOOP_HEADER_KEY]: 'mailroom; install=x', 'auto-submitted': 'auto-generated' } }),
    kind: 'own',
    reason: /X-Mailroom-Loop/,
  },
  {
    name: 'an answer to one of our notifications (its In-Reply-To): their replies are not read',
    input: human({ answers: ['<t-1@partner.example>', '<mailroom.0123456789abcdef0123456789abcdef@acme.example>'] }),
    kind: 'own',
    reason: /answers Mailroom's notification <mailroom\.0123456789abcdef0123456789abcdef@acme\.example>/,
  },
  {
    name: 'an answer to our notification, our domain known (smtp.from\'s, any case): still ours',
    input: human({ answers: ['<mailroom.0123456789abcdef0123456789abcdef@ACME.example>'], notificationDomains: ['acme.example'] }),
    kind: 'own',
    reason: /answers Mailroom's notification/,
  },
  {
    name: 'an answer to our notification, an IDN smtp.from domain named in its other form (Unicode / xn--): still ours',
    input: human({ answers: ['<mailroom.0123456789abcdef0123456789abcdef@xn--bcher-kva.example>'], notificationDomains: ['bücher.example'] }),
    kind: 'own',
    reason: /answers Mailroom's notification/,
  },
  {
    name: 'the same the other way round (an xn-- smtp.from, the Unicode form in the answer, in upper case)',
    input: human({ answers: ['<mailroom.0123456789abcdef0123456789abcdef@BÜCHER.example>'], notificationDomains: ['xn--bcher-kva.example'] }),
    kind: 'own',
    reason: /answers Mailroom's notification/,
  },
  {
    name: 'an answer to ANOTHER install\'s notification (a person copying this support address) is work',
    input: human({ answers: ['<mailroom.0123456789abcdef0123456789abcdef@vendor.example>'], notificationDomains: ['acme.example'] }),
    kind: 'human',
    reason: /no automated-mail markers/,
  },
  {
    name: 'an answer to our mail to a customer (an acknowledgement, an agent\'s comment) is theirs to make',
    input: human({ answers: ['<mailroom.r.0123456789abcdef0123456789abcdef@acme.example>'] }),
    kind: 'human',
    reason: /no automated-mail markers/,
  },

  // Auto-replies.
  { name: 'Auto-Submitted: auto-replied', input: human({ headers: { 'auto-submitted': 'auto-replied' } }), kind: 'auto-reply', reason: /Auto-Submitted: auto-replied/ },
  {
    name: 'Auto-Submitted: auto-generated with parameters',
    input: human({ headers: { 'auto-submitted': 'auto-generated; owner-email="x@example.com"' } }),
    kind: 'auto-reply',
    reason: /auto-generated/,
  },
  { name: 'Auto-Submitted: no is a person', input: human({ headers: { 'auto-submitted': 'no' } }), kind: 'human', reason: /no automated-mail markers/ },
  { name: 'X-Autoreply: yes', input: human({ headers: { 'x-autoreply': 'yes' } }), kind: 'auto-reply', reason: /X-Autoreply/ },
  { name: 'X-Autorespond', input: human({ headers: { 'x-autorespond': 'Out of office' } }), kind: 'auto-reply', reason: /X-Autorespond/ },
  { name: 'Precedence: auto_reply', input: human({ headers: { precedence: 'auto_reply' } }), kind: 'auto-reply', reason: /Precedence: auto_reply/ },
  {
    name: 'a mail a customer\'s Exchange inbox rule forwarded is a person\'s',
    input: human({ headers: { 'x-ms-exchange-inbox-rules-loop': 'alice@example.com' } }),
    kind: 'human',
    reason: /no automated-mail markers/,
  },
  {
    name: 'an Exchange inbox rule\'s mail with a vacation subject: weak, suspected auto-reply',
    input: human({ headers: { 'x-ms-exchange-inbox-rules-loop': 'alice@example.com' }, subject: 'Out of office until Monday' }),
    kind: 'human',
    reason: /Inbox-Rules-Loop and subject/,
    suspected: 'auto-reply',
  },
  {
    name: 'X-Auto-Response-Suppress (set by the sending client) with "Automatic reply": weak',
    input: human({ headers: { 'x-auto-response-suppress': 'All' }, subject: 'Automatic reply: Printer' }),
    kind: 'human',
    reason: /weak signal/,
    suspected: 'auto-reply',
  },
  {
    name: 'Exchange out-of-office with its null sender is an auto-reply',
    input: human({ headers: { 'x-auto-response-suppress': 'All', 'x-ms-exchange-inbox-rules-loop': 'carol@example.net', 'return-path': '<>' }, subject: 'Automatic reply: Printer' }),
    kind: 'auto-reply',
    reason: /Return-Path: <> and a vacation subject/,
  },
  { name: 'iCloud vacation responder (X-Apple-Action)', input: human({ headers: { 'x-apple-action': 'VACATION' }, subject: 'Auto reply: Printer' }), kind: 'auto-reply', reason: /X-Apple-Action: VACATION/ },
  {
    name: 'a JMRP-style abuse report with the reported message enclosed',
    input: human({ headers: { 'content-type': 'multipart/mixed' }, partTypes: ['message/rfc822'], subject: 'complaint about message from 192.0.2.1' }),
    kind: 'feedback-report',
    reason: /reported message enclosed/,
  },
  { name: 'an abuse-report subject alone: weak', input: human({ subject: 'complaint about message from 192.0.2.1' }), kind: 'human', reason: /weak signal/, suspected: 'feedback-report' },
  {
    name: 'a bounce-like body opening alone: weak',
    input: human({ subject: 'hello', text: 'This is the mail system at host mx.example.net.\n\nI\'m sorry to have to inform you' }),
    kind: 'human',
    reason: /weak signal/,
    suspected: 'bounce',
  },
  {
    name: 'an out-of-office body opening alone: weak',
    input: human({ subject: 'Re: ticket', text: 'Hello, I am currently out of the office until 12 May.' }),
    kind: 'human',
    reason: /weak signal/,
    suspected: 'auto-reply',
  },
  { name: 'a person who mentions their holiday is not suspected', input: human({ subject: 'Re: ticket', text: 'Thanks! I was on holiday, sorry for the delay.' }), kind: 'human', reason: /no automated/ },
  {
    name: 'X-Auto-Response-Suppress on an ordinary mail is a person',
    input: human({ headers: { 'x-auto-response-suppress': 'All' }, subject: 'Meeting notes' }),
    kind: 'human',
    reason: /no automated-mail markers/,
  },
  {
    name: 'RFC 3834 null sender with Auto-Submitted and an ordinary subject is a vacation reply',
    input: human({ headers: { 'return-path': '<>', 'auto-submitted': 'auto-replied' }, subject: 'Re: your question' }),
    kind: 'auto-reply',
    reason: /Auto-Submitted/,
  },
  {
    name: 'null sender with a vacation subject',
    input: human({ headers: { 'return-path': '<>' }, subject: 'Out of Office: back on Monday' }),
    kind: 'auto-reply',
    reason: /vacation subject/,
  },
  { name: 'vacation subject alone (weak)', input: human({ subject: 'Automatic reply: Printer' }), kind: 'human', reason: /weak signal/, suspected: 'auto-reply' },
  { name: '"Vacation request" from a person is a person', input: human({ subject: 'Vacation request for May' }), kind: 'human', reason: /no automated/ },
  { name: '"Away team meeting" is a person', input: human({ subject: 'Away team meeting' }), kind: 'human', reason: /no automated/ },
  { name: 'German vacation subject (weak)', input: human({ subject: 'Abwesenheitsnotiz: Drucker' }), kind: 'human', reason: /weak signal/, suspected: 'auto-reply' },
  {
    name: 'read receipt (MDN)',
    input: human({ headers: { 'content-type': 'multipart/report; report-type=disposition-notification' } }),
    kind: 'auto-reply',
    reason: /disposition-notification/,
  },
  {
    name: 'Auto-Submitted wins over a List-Id',
    input: human({ headers: { 'auto-submitted': 'auto-replied', 'list-id': '<x.example.org>' } }),
    kind: 'auto-reply',
    reason: /Auto-Submitted/,
  },

  // Lists and bulk.
  { name: 'List-Id', input: human({ headers: { 'list-id': 'Dev <dev.lists.example.org>' } }), kind: 'list', reason: /List-Id: Dev/ },
  {
    name: 'List-Unsubscribe alone (a sending service adds it to one-to-one mail) is a weak signal: delivered, labelled',
    input: human({ headers: { 'list-unsubscribe': '<mailto:u@example.org>' } }),
    kind: 'human',
    reason: /^List-Unsubscribe: <mailto:u@example\.org> without List-Id or Precedence \(weak signal/,
    suspected: 'list',
  },
  { name: 'List-Unsubscribe with Precedence: bulk', input: human({ headers: { 'list-unsubscribe': '<mailto:u@example.org>', precedence: 'bulk' } }), kind: 'list', reason: /Precedence: bulk/ },
  { name: 'List-Unsubscribe with List-Id', input: human({ headers: { 'list-unsubscribe': '<mailto:u@example.org>', 'list-id': 'News <news.example.org>' } }), kind: 'list', reason: /List-Id/ },
  { name: 'a list manager notice (fml X-MLServer), no List-* headers', input: human({ headers: { 'x-mlserver': 'fml [fml 4.0.3 release]' }, subject: 'Loop Alert: Duplicated Message-ID (neko ML)' }), kind: 'list', reason: /X-Mlserver|X-MLServer/i },
  { name: 'Mailman X-BeenThere', input: human({ headers: { 'x-beenthere': 'dev@lists.example.org' } }), kind: 'list', reason: /BeenThere/i },
  { name: 'Precedence: bulk', input: human({ headers: { precedence: 'bulk' } }), kind: 'list', reason: /Precedence: bulk/ },
  { name: 'Precedence: junk', input: human({ headers: { precedence: 'Junk' } }), kind: 'list', reason: /Precedence: junk/ },
  { name: 'Precedence: first-class is a person', input: human({ headers: { precedence: 'first-class' } }), kind: 'human', reason: /no automated/ },

  // People.
  { name: 'plain mail', input: human(), kind: 'human', reason: /no automated-mail markers/ },
  { name: 'a reply from a person', input: human({ subject: 'Re: Printer on floor 3', headers: { 'in-reply-to': '<a@b>' } }), kind: 'human', reason: /no automated/ },
  {
    name: 'a person forwarding a mail as an attachment',
    input: human({ headers: { 'content-type': 'multipart/mixed' }, partTypes: ['message/rfc822'], subject: 'Fwd: invoice' }),
    kind: 'human',
    reason: /no automated/,
  },
  { name: 'a person named "Daemon" is not a mail system', input: human({ from: 'daemon.smith@example.com' }), kind: 'human', reason: /no automated/ },
  { name: 'no headers at all', input: { headers: {} }, kind: 'human', reason: /no automated/ },
];

describe('classify', () => {
  it.each(rows)('$name -> $kind', ({ input, kind, reason, suspected }) => {
    const c = classify(input);
    expect(c.kind).toBe(kind);
    expect(c.reason).toMatch(reason);
    expect(c.suspected).toBe(suspected);
  });
});

describe('parseContentType', () => {
  it('splits type and lower-cased parameter names, unquoting values', () => {
    expect(parseContentType('Multipart/Report; Report-Type="delivery-status"; boundary="a;b"')).toEqual({
      type: 'multipart/report',
      params: { 'report-type': 'delivery-status', boundary: '"a' },
    });
    expect(parseContentType(undefined)).toEqual({ type: 'text/plain', params: {} });
  });
});

describe('loop header', () => {
  it('builds a value that reads back, and keeps it header-safe', () => {
    expect(LOOP_HEADER).toBe('X-Mailroom-Loop');
    const v = loopHeaderValue('{mailroom}', { issue: 'SUP-7', evil: 'a\r\nBcc: x@y; z=1' });
    expect(v).not.toMatch(/[\r\n]/);
    expect(parseLoopHeader(v)).toEqual({ install: '{mailroom}', issue: 'SUP-7', evil: 'a Bcc: x@y z 1' });
    expect(parseLoopHeader('something else')).toBeUndefined();
  });
});
