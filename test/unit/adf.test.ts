import { describe, expect, it } from 'vitest';
import { adfToText, inline, isForward, stripQuotedHistory, textToAdf } from '../../src/deliver/adf.js';
import { htmlToLinkedText } from '../../src/mail/content.js';

describe('stripQuotedHistory', () => {
  const cases: [string, string, string][] = [
    ['Gmail reply with > quote', 'Thanks, that works.\n\nOn Tue, 3 Mar 2026 at 10:00, Ana <ana@x.example> wrote:\n> Try restarting.\n> Ana', 'Thanks, that works.'],
    ['marker folded over two lines', 'Yes.\n\nOn Tue, 3 Mar 2026 at 10:00, Ana Example <ana@x.example>\nwrote:\n> old', 'Yes.'],
    ['inline answers survive', 'On Mon, Bob wrote:\n> Is it on?\nYes it is.\n> And the fan?\nAlso.', 'Yes it is.\nAlso.'],
    ['marker without > (from HTML) cuts the rest', 'New text\nOn Mon, 2 Mar 2026, Bob <b@x.example> wrote:\nold text\nmore old', 'New text'],
    ['Outlook Original Message', 'Please see below.\n\n-----Original Message-----\nFrom: Bob\nSent: Monday\nold', 'Please see below.'],
    ['Outlook From/Sent block after a rule', 'Done.\n\n________________________________\nFrom: Bob Builder <bob@x.example>\nSent: Monday, March 2, 2026 10:00\nTo: support\nSubject: x\n\nold', 'Done.'],
    ['German Outlook block', 'Erledigt.\nVon: Bob\nGesendet: Montag\nold', 'Erledigt.'],
    ['a From: line without a header block stays', 'From: my desk to yours\nthe printer works', 'From: my desk to yours\nthe printer works'],
    ['nothing but a quote is kept whole', '> only quoted\n> lines', '> only quoted\n> lines'],
    ['CRLF', 'Hi\r\n> q\r\nBye', 'Hi\nBye'],
    // A forward is the customer's content, not history the issue holds: cut, it left the agent
    // "see the invoice below" and nothing below, without a word.
    ['Gmail forward is kept whole', 'See the invoice below, it is wrong.\n\n---------- Forwarded message ---------\nFrom: Billing <billing@vendor.example>\nDate: Mon, 2 Mar 2026 at 10:00\nSubject: Invoice 123\nTo: <ana@customer.example>\n\nAmount due: 1,200 EUR\n> quoted inside', 'See the invoice below, it is wrong.\n\n---------- Forwarded message ---------\nFrom: Billing <billing@vendor.example>\nDate: Mon, 2 Mar 2026 at 10:00\nSubject: Invoice 123\nTo: <ana@customer.example>\n\nAmount due: 1,200 EUR\n> quoted inside'],
    ['Thunderbird and Apple Mail forwards too', 'FYI\n-------- Forwarded Message --------\nSubject: x\nold\n\nBegin forwarded message:\n\nFrom: a', 'FYI\n-------- Forwarded Message --------\nSubject: x\nold\n\nBegin forwarded message:\n\nFrom: a'],
    ['Apple Mail forwards in German and French too', 'Siehe unten.\n\nAnfang der weitergeleiteten Nachricht:\n\nVon: Billing <b@vendor.example>\nBetreff: Rechnung\n\nBetrag', 'Siehe unten.\n\nAnfang der weitergeleiteten Nachricht:\n\nVon: Billing <b@vendor.example>\nBetreff: Rechnung\n\nBetrag'],
    ['Apple Mail forwards in French', 'Voir ci-dessous.\n\nDébut du message réexpédié :\n\nDe: Billing <b@vendor.example>\nObjet: Facture\n\nMontant', 'Voir ci-dessous.\n\nDébut du message réexpédié :\n\nDe: Billing <b@vendor.example>\nObjet: Facture\n\nMontant'],
    ['a reply above a forward still loses its quote', 'Look.\n> earlier\n---------- Forwarded message ---------\nbody', 'Look.\n---------- Forwarded message ---------\nbody'],
  ];
  it.each(cases)('%s', (_name, input, want) => {
    expect(stripQuotedHistory(input)).toBe(want);
  });
});

describe('isForward', () => {
  it.each([
    ['FW: Invoice 123', true],
    ['Fwd: Invoice 123', true],
    ['fw:Invoice', true],
    ['WG: Rechnung', true],
    ['TR: Facture', true],
    ['RV: Factura', true],
    ['ENC: Fatura', true],
    ['[SUP-12] FW: Invoice', true],
    ['[EXTERNAL] [SUP-12] Fwd: Invoice', true],
    ['RE: FW: Invoice', false], // a reply to a forward: its quote is history
    ['AW: Rechnung', false],
    ['Re: [SUP-12] Invoice', false],
    ['Firewall: port 443 blocked', false],
    ['Tracking: parcel late', false],
    ['', false],
    [undefined, false],
  ])('%s -> %s', (subject, want) => {
    expect(isForward(subject)).toBe(want);
  });
});

describe('textToAdf', () => {
  it('blank lines make paragraphs, single line ends hard breaks', () => {
    const doc = textToAdf('Hello,\nthe printer is down.\n\n\nThanks\nAna');
    expect(doc).toEqual({
      type: 'doc',
      version: 1,
      content: [
        { type: 'paragraph', content: [{ type: 'text', text: 'Hello,' }, { type: 'hardBreak' }, { type: 'text', text: 'the printer is down.' }] },
        { type: 'paragraph', content: [{ type: 'text', text: 'Thanks' }, { type: 'hardBreak' }, { type: 'text', text: 'Ana' }] },
      ],
    });
  });

  it('URLs become link marks, trailing punctuation stays text', () => {
    expect(inline('see https://status.example.com/x?a=1. or mailto:help@x.example')).toEqual([
      { type: 'text', text: 'see ' },
      { type: 'text', text: 'https://status.example.com/x?a=1', marks: [{ type: 'link', attrs: { href: 'https://status.example.com/x?a=1' } }] },
      { type: 'text', text: '. or ' },
      { type: 'text', text: 'mailto:help@x.example', marks: [{ type: 'link', attrs: { href: 'mailto:help@x.example' } }] },
    ]);
  });

  it('strips quoted history only when asked', () => {
    const text = 'New\n> old';
    expect(adfToText(textToAdf(text, { stripQuotedHistory: true }))).toBe('New');
    expect(adfToText(textToAdf(text))).toBe('New\n> old');
  });

  it('preface and notes are their own paragraphs; an empty body says so', () => {
    const doc = textToAdf('  \n\n', { preface: ['Ana wrote:'], notes: ['Attachment not uploaded: big.zip (30.0 MB)'] });
    expect(doc.content).toHaveLength(3);
    expect(adfToText(doc)).toBe('Ana wrote:\n\n(no text in the mail)\n\nAttachment not uploaded: big.zip (30.0 MB)');
  });

  it('never emits empty text nodes (Jira refuses them)', () => {
    const doc = textToAdf('https://a.example\n\nx https://b.example');
    const texts = JSON.stringify(doc).match(/"text":""/g);
    expect(texts).toBeNull();
  });
});

describe('htmlToLinkedText', () => {
  it('keeps anchors as links on their label, paragraphs as blank lines, entities decoded', () => {
    const html = '<html><head><style>p{}</style></head><body><p>Hallo,</p><p>see <a href="https://portal.example/inv?a=1&amp;b=2">the <b>portal</b></a> &amp; J&uuml;rgen</p></body></html>';
    const text = htmlToLinkedText(html);
    const doc = textToAdf(text);
    expect(doc.content).toEqual([
      { type: 'paragraph', content: [{ type: 'text', text: 'Hallo,' }] },
      {
        type: 'paragraph',
        content: [
          { type: 'text', text: 'see ' },
          { type: 'text', text: 'the portal', marks: [{ type: 'link', attrs: { href: 'https://portal.example/inv?a=1&b=2' } }] },
          { type: 'text', text: ' & Jürgen' },
        ],
      },
    ]);
    expect(adfToText(doc)).toBe('Hallo,\n\nsee the portal <https://portal.example/inv?a=1&b=2> & Jürgen');
  });

  it('a javascript: href stays plain text', () => {
    expect(JSON.stringify(textToAdf(htmlToLinkedText('<a href="javascript:alert(1)">click</a>')))).not.toContain('javascript');
  });
});
