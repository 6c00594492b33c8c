// The families of machine mail that once slipped through as human (issue #18, finding 6), one
// mail written for the test per rule, plus the people-written mails each rule must not catch.
import { describe, expect, it } from 'vitest';
import { classify, type ClassifyInput } from '../../src/mail/classify.js';
import type { ClassificationKind } from '../../src/mail/record.js';

const mail = (over: Partial<ClassifyInput>): ClassifyInput => ({ headers: {}, from: 'alice@example.com', subject: 'Printer on floor 3 is jammed', ...over });

// `suspected X`: a weak signal only (issue 23): delivered as a person's mail, marked as maybe X.
type Want = ClassificationKind | 'suspected bounce' | 'suspected auto-reply';

const rows: Array<[string, ClassifyInput, Want]> = [
  // Non-delivery reports from antivirus / gateway products and SMTP service accounts.
  ['antivirus gateway NDR', mail({ from: 'antivirus@mx.example.com', subject: 'Message could not be delivered' }), 'bounce'],
  ['mail gateway by display name', mail({ from: 'gw@mx.example.com', fromName: 'Mail Gateway', subject: 'Delivery failure notification' }), 'bounce'],
  ['SMTP service account', mail({ from: 'smtp-relay@example.net', subject: 'Undeliverable: invoice' }), 'bounce'],
  ['Exchange service account', mail({ from: 'MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@corp.example', subject: 'Undeliverable: hello' }), 'bounce'],
  ['InterScan quarantine notice', mail({ from: 'interscan@mx.example.com', subject: 'Delivery failure: virus found' }), 'bounce'],
  // Odd or quoted postmaster-like local parts.
  ['quoted MAILER-DAEMON', mail({ from: '"mailer-daemon"@mx.example.com', subject: 'hello' }), 'bounce'],
  ['postmaster with a host suffix and a report subject', mail({ from: 'postmaster.mx1@example.com', subject: 'Returned mail: see transcript for details' }), 'bounce'],
  // postmaster alone may be the site's mail administrator writing (RFC 5321 §4.5.1): delivered, marked.
  ['postmaster with a host suffix alone', mail({ from: 'postmaster.mx1@example.com', subject: 'hello' }), 'suspected bounce'],
  // A gateway product's report from postmaster under the product's name, subject in any language.
  ['postmaster named for a gateway product (InterScan MSS)', mail({ from: 'postmaster@example.co.jp', fromName: 'InterScan MSS', subject: 'メッセージを配信できません。' }), 'bounce'],
  ['postmaster named for a gateway product (IronPort)', mail({ from: 'postmaster@corp.example', fromName: 'Cisco IronPort', subject: 'Content filter notice' }), 'bounce'],
  ['mailer.daemon spelled with a dot', mail({ from: 'mailer.daemon@example.com', subject: 'hello' }), 'bounce'],
  // DSN subjects alone: weak signals, the mail is delivered and marked.
  ['"could not be delivered" alone', mail({ from: 'ops@mx.example.com', subject: 'Your message to bob@example.org could not be delivered' }), 'suspected bounce'],
  ['"delivery failure notification" alone', mail({ from: 'ops@mx.example.com', subject: 'Delivery Failure Notification' }), 'suspected bounce'],
  ['French DSN subject alone', mail({ from: 'ops@mx.example.fr', subject: 'Échec de la remise du message' }), 'suspected bounce'],
  ['Italian DSN subject alone', mail({ from: 'ops@mx.example.it', subject: 'Non recapitabile: fattura' }), 'suspected bounce'],
  ['Spanish DSN beside a null sender', mail({ headers: { 'return-path': '<>', 'auto-submitted': 'auto-replied' }, subject: 'No se pudo entregar el mensaje' }), 'bounce'],
  // Vendor auto-replies.
  ['vendor header X-Mail-Autoreply', mail({ headers: { 'x-mail-autoreply': 'yes' }, subject: 'Re: your ticket' }), 'auto-reply'],
  ['vendor header X-Vacation', mail({ headers: { 'x-vacation': 'on' }, subject: 'Re: your ticket' }), 'auto-reply'],
  ['X-POST-MessageClass autoresponder', mail({ headers: { 'x-post-messageclass': '9; Autoresponder' }, subject: 'Re: x' }), 'auto-reply'],
  ['German vendor subject', mail({ subject: 'Abwesend: Ihre Anfrage' }), 'suspected auto-reply'],
  ['Swedish vendor subject', mail({ subject: 'Autosvar: Re: faktura' }), 'suspected auto-reply'],
  ['Portuguese vendor subject', mail({ subject: 'Resposta automática: pedido' }), 'suspected auto-reply'],
  ['"I am out of the office" subject', mail({ subject: 'I am out of the office until Monday' }), 'suspected auto-reply'],
  ['Japanese vendor subject', mail({ subject: '自動応答: お問い合わせ' }), 'suspected auto-reply'],
  // Spam the receiving server marked.
  ['X-Spam-Flag: YES', mail({ headers: { 'x-spam-flag': 'YES' } }), 'spam'],
  ['X-Spam-Status: Yes, score=9.1', mail({ headers: { 'x-spam-status': 'Yes, score=9.1 required=5.0 tests=BAYES_99' } }), 'spam'],
  ['a DSN stays a bounce even when marked spam', mail({ headers: { 'content-type': 'multipart/report; report-type=delivery-status', 'x-spam-flag': 'YES' } }), 'bounce'],
  // People, who must stay people.
  ['X-Spam-Status: No', mail({ headers: { 'x-spam-status': 'No, score=0.1' } }), 'human'],
  ['X-Spam-Flag: NO', mail({ headers: { 'x-spam-flag': 'NO' } }), 'human'],
  ['a person writes from admin@ about delivery', mail({ from: 'admin@example.com', subject: 'Parcel not delivered yet' }), 'human'],
  ['a person at smtp@ writes a question', mail({ from: 'smtp@example.com', subject: 'How do I change my password?' }), 'human'],
  ['a customer says a parcel could not be delivered', mail({ subject: 'Re: order 1234 - courier says it could not be delivered' }), 'human'],
  ['"Away team meeting" is a person', mail({ subject: 'Away team meeting' }), 'human'],
];

describe('classifier families (issue #18)', () => {
  it.each(rows)('%s', (_name, input, want) => {
    const c = classify(input);
    const [kind, suspected] = want.startsWith('suspected ') ? ['human', want.slice('suspected '.length)] : [want, undefined];
    expect(c.kind, c.reason).toBe(kind);
    expect(c.suspected, c.reason).toBe(suspected);
    expect(c.reason.length).toBeGreaterThan(0);
  });
});
