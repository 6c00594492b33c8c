import { describe, expect, it } from 'vitest';
import { compactAuthResults, parseAuthResults, senderVerdict, type AuthInput, type AuthTrust } from '../../src/mail/auth-results.js';
import { senderNote } from '../../src/deliver/sender-note.js';
import { parseMail } from '../../src/mail/parse.js';
import { trustFor, unreadableVerdicts, verdictOf } from '../../src/mail/sender-trust.js';
import { sha256Of } from '../../src/mail/store.js';

const MX = 'mx.acme.example';
const IDS: AuthTrust = { kind: 'authserv-ids', ids: [MX] };
const EXO: AuthTrust = { kind: 'exchange-online' };
const GMAIL: AuthTrust = { kind: 'authserv-ids', ids: ['mx.google.com'], topmostOnly: true };
const v = (authResults: string[], trust: AuthTrust = IDS, more: Partial<AuthInput> = {}) => senderVerdict({ authResults, from: 'bob@partner.example', ...more }, trust);

describe('senderVerdict', () => {
  it.each([
    ['dmarc=fail', [`${MX}; dkim=none; spf=softfail smtp.mailfrom=partner.example; dmarc=fail (p=reject) header.from=partner.example`], 'fail'],
    ['spf=fail', [`${MX}; spf=fail smtp.mailfrom=partner.example`], 'fail'],
    ['every DKIM signature fails', [`${MX}; dkim=fail header.d=partner.example; dkim=fail header.d=esp.example`], 'fail'],
    ['one DKIM fails, one aligned passes (no DMARC)', [`${MX}; dkim=fail header.d=esp.example; dkim=pass header.d=partner.example`], 'pass'],
    ['dmarc=pass beats a failed list signature', [`${MX}; dkim=fail; dmarc=pass header.from=partner.example`], 'pass'],
    ['version number and comments', [`${MX} 1; (received over TLS) dmarc=fail (p=none dis=none) header.from=x.example`], 'fail'],
    ['upper-case id', [`MX.ACME.EXAMPLE; dmarc=fail`], 'fail'],
    ['nothing conclusive', [`${MX}; dkim=none; spf=none`], 'none'],
    // The four forged replies of issue 23.
    ['dmarc=none with spf=softfail', [`${MX}; spf=softfail smtp.mailfrom=partner.example; dkim=none; dmarc=none header.from=partner.example`], 'none'],
    ['an SPF/DKIM pass for an unrelated domain', [`${MX}; spf=pass smtp.mailfrom=evil.test; dkim=pass header.d=evil.test`], 'none'],
    ['no trusted header', [`mx.evil.test; dmarc=pass header.from=partner.example`], 'none'],
    ['a second trusted header that fails, below a pass', [`${MX}; spf=pass smtp.mailfrom=partner.example`, `${MX}; dmarc=fail header.from=partner.example`], 'fail'],
    ['dmarc=temperror', [`${MX}; spf=pass smtp.mailfrom=partner.example; dmarc=temperror header.from=partner.example`], 'none'],
    ['DMARC passed for another From than the one used', [`${MX}; dmarc=pass header.from=evil.test`], 'none'],
    ['an aligned subdomain DKIM pass without DMARC', [`${MX}; dkim=pass header.i=@mail.partner.example`], 'pass'],
    ['neutral', [`${MX}; spf=neutral smtp.mailfrom=partner.example`], 'none'],
  ])('%s -> %s', (_n, values, result) => {
    expect(v(values).result).toBe(result);
  });

  it('ignores headers from other hosts: a sender writes its own "pass"', () => {
    expect(v([`mx.partner.example; dmarc=pass; spf=pass`])).toMatchObject({ result: 'none' });
    expect(v([`${MX}; dmarc=fail header.from=partner.example`, `${MX}; dmarc=pass header.from=partner.example`])).toMatchObject({ result: 'fail' });
  });

  it('counts a pass only from the block on top: a trusted-id header a hop below is the sender\'s', () => {
    const values = [`${MX}; spf=none smtp.mailfrom=partner.example`, `${MX}; dmarc=pass header.from=partner.example`];
    expect(v(values, IDS, { authHops: [0, 1] }).result).toBe('none');
    // A host that writes one header per method: both above the same Received header.
    expect(v(values, IDS, { authHops: [0, 0] }).result).toBe('pass');
  });

  it('a block whose headers disagree about DMARC (the host\'s none beside a pass a sender wrote at the same depth) is not a pass', () => {
    // A host that writes its header below its own Received line and keeps headers carrying its
    // id: a sender's forged header then sits in the same block as the real one.
    const values = [`${MX}; dmarc=none header.from=partner.example`, `${MX}; dmarc=pass header.from=partner.example`];
    expect(v(values, IDS, { authHops: [0, 0] })).toMatchObject({ result: 'none', detail: expect.stringMatching(/disagree/) });
    expect(v([`${MX}; dmarc=pass header.from=partner.example`, `${MX}; spf=pass smtp.mailfrom=partner.example`], IDS, { authHops: [0, 0] }).result).toBe('pass');
  });

  it('a ( or ; inside a quoted value the sender chose neither hides a failure nor invents a pass', () => {
    expect(v([`${MX}; spf=pass smtp.mailfrom="(x"@evil.test; dkim=none; dmarc=fail (p=reject) header.from=customer-one.test`])).toMatchObject({ result: 'fail' });
    expect(v([`${MX}; spf=none smtp.mailfrom="a;dmarc=pass"@evil.test; dkim=none`])).toMatchObject({ result: 'none' });
    expect(v([`${MX}; spf=pass smtp.mailfrom="x@evil.test; dmarc=fail header.from=customer-one.test`])).toMatchObject({ result: 'fail' });
    expect(v([`${MX}; spf=pass (unclosed; dmarc=fail`])).toMatchObject({ result: 'fail' });
  });

  it('a mail with two From addresses is unverified even with a pass', () => {
    expect(v([`${MX}; dmarc=pass header.from=partner.example`], IDS, { fromCount: 2 })).toMatchObject({ result: 'none', detail: /2 From addresses/ });
  });

  it('reads nothing when nothing is trusted', () => {
    expect(v([`${MX}; dmarc=fail`], { kind: 'none', why: 'no host' })).toMatchObject({ result: 'none', detail: 'no host' });
  });

  it('parses method results with nested comments, and Exchange Online\'s id-less form', () => {
    expect(parseAuthResults('mx.example (a (b) c); spf=pass (x) smtp.mailfrom=a; dkim/1=fail')).toEqual({
      authservId: 'mx.example',
      results: [{ method: 'spf', result: 'pass', domain: 'a' }, { method: 'dkim', result: 'fail' }],
    });
    const exo = parseAuthResults('spf=pass (sender IP is 209.85.128.41) smtp.mailfrom=partner.example; dkim=pass (signature was verified) header.d=partner.example;dmarc=pass action=none header.from=partner.example;compauth=pass reason=100');
    expect(exo.authservId).toBe('');
    expect(exo.results.map((r) => `${r.method}=${r.result}`)).toEqual(['spf=pass', 'dkim=pass', 'dmarc=pass', 'compauth=pass']);
    // The compact form reads back the same.
    expect(parseAuthResults(compactAuthResults('spf=pass smtp.mailfrom=partner.example;dmarc=pass action=none header.from=partner.example'))).toEqual({
      authservId: '',
      results: [{ method: 'spf', result: 'pass', domain: 'partner.example' }, { method: 'dmarc', result: 'pass', domain: 'partner.example' }],
    });
  });
});

// Exchange Online's header, as Microsoft documents it ("Anti-spam message headers in Microsoft 365").
const EXO_PASS = 'spf=pass (sender IP is 209.85.128.41) smtp.mailfrom=partner.example; dkim=pass (signature was verified) header.d=partner.example;dmarc=pass action=none header.from=partner.example;compauth=pass reason=100';
const EXO_FAIL = 'spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=evil.test; dkim=none (message not signed) header.d=none;dmarc=fail action=oreject header.from=partner.example;compauth=fail reason=000';

describe('Exchange Online verdicts', () => {
  it.each([
    ['dmarc=pass compauth=pass', [EXO_PASS], 'pass'],
    ['dmarc=fail compauth=fail', [EXO_FAIL], 'fail'],
    ['compauth=fail alone', ['spf=none (sender IP is 203.0.113.9) smtp.mailfrom=evil.test; dkim=none (message not signed) header.d=none;dmarc=none action=none header.from=partner.example;compauth=fail reason=001'], 'fail'],
    ['bestguesspass (no DMARC record, would pass)', ['spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=partner.example; dkim=none (message not signed) header.d=none;dmarc=bestguesspass action=none header.from=partner.example;compauth=pass reason=109'], 'pass'],
    ['compauth=softpass is not a pass', ['spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=esp.example; dkim=none (message not signed) header.d=none;dmarc=none action=none header.from=partner.example;compauth=softpass reason=201'], 'none'],
    ['a sender\'s forged id-less pass below Exchange\'s fail', [EXO_FAIL, EXO_PASS], 'fail'],
    ['a sender\'s forged id-less header below a host header on top', ['mx.other.example; none', EXO_PASS], 'none'],
    ['a sender\'s forged id-less fail below Exchange\'s pass still fails (fail closed)', [EXO_PASS, EXO_FAIL], 'fail'],
    // Microsoft: a trusted ARC sealer's results override a DMARC failure caused by a gateway (compauth=pass reason=130).
    ['dmarc=fail overridden by compauth=pass reason=130 (trusted ARC sealer)', ['spf=fail (sender IP is 198.51.100.7) smtp.mailfrom=partner.example; dkim=fail (body hash did not verify) header.d=partner.example;dmarc=fail action=none header.from=partner.example;compauth=pass reason=130'], 'pass'],
    ['compauth=pass for another From than the one used', ['spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=evil.test;dmarc=fail action=none header.from=evil.test;compauth=pass reason=130'], 'none'],
    ['a header with an id is not Exchange\'s', [`mx.google.com; dmarc=pass header.from=partner.example`], 'none'],
  ])('%s -> %s', (_n, values, result) => {
    expect(v(values, EXO).result).toBe(result);
  });

  it('mail from inside the tenant (X-MS-Exchange-Organization-AuthAs: Internal) is verified', () => {
    const internal = 'dkim=none (message not signed) header.d=none;dmarc=none action=none header.from=acme.example;';
    expect(v([internal], EXO, { authAs: 'internal', from: 'agent@acme.example' }).result).toBe('pass');
    expect(v([internal], EXO, { authAs: 'anonymous', from: 'agent@acme.example' }).result).toBe('none');
  });
});

describe('Gmail verdicts', () => {
  const GMAIL_PASS = 'mx.google.com; dkim=pass header.i=@partner.example header.s=s1 header.b=AbCd; spf=pass (google.com: domain of bob@partner.example designates 192.0.2.1 as permitted sender) smtp.mailfrom=bob@partner.example; dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=partner.example';
  const GMAIL_FAIL = 'mx.google.com; spf=fail (google.com: domain of bob@partner.example does not designate 203.0.113.9 as permitted sender) smtp.mailfrom=bob@partner.example; dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=partner.example';
  it.each([
    ['pass', [GMAIL_PASS], 'pass'],
    ['fail', [GMAIL_FAIL], 'fail'],
    ['a forged mx.google.com pass right below a neutral one counts nothing', ['mx.google.com; spf=neutral smtp.mailfrom=bob@partner.example', GMAIL_PASS], 'none'],
  ])('%s -> %s', (_n, values, result) => {
    expect(v(values, GMAIL, { authHops: values.map(() => 1) }).result).toBe(result);
  });
});

describe('which host a mailbox believes', () => {
  const mb = (imap: object | undefined, authservIds: string[] = []) => ({ id: 'support', ...(imap ? { imap } : {}), policy: { authservIds } }) as Parameters<typeof trustFor>[0];
  it('Microsoft 365 by provider or host, Google by provider or host, else authservIds', () => {
    expect(trustFor(mb({ host: 'imap.example.com', auth: { provider: 'microsoft' } }))).toEqual({ kind: 'exchange-online' });
    expect(trustFor(mb({ host: 'Outlook.Office365.com' }))).toEqual({ kind: 'exchange-online' });
    expect(trustFor(mb({ host: 'imap.gmail.com' }))).toMatchObject({ kind: 'authserv-ids', ids: ['mx.google.com'], topmostOnly: true });
    expect(trustFor(mb({ host: 'imap.example.com', auth: { provider: 'google' } }))).toMatchObject({ ids: ['mx.google.com'] });
    expect(trustFor(mb({ host: 'outlook.office365.com' }, ['mx.gateway.example']))).toEqual({ kind: 'authserv-ids', ids: ['mx.gateway.example'] });
    expect(trustFor(mb({ host: 'mail.example.com' }))).toMatchObject({ kind: 'none' });
  });
  it('says once per mailbox when no verdict can be read', () => {
    expect(unreadableVerdicts([mb({ host: 'mail.example.com' }), mb({ host: 'imap.gmail.com' })])).toEqual([expect.stringMatching(/^mailbox support: sender verdicts cannot be read/)]);
  });
  it('names the example file\'s mx.example.com kept in a copy that reads a real mailbox, and what to do instead', () => {
    // A Microsoft 365 mailbox added to a copy of mailroom.example.yml: the placeholder wins over Exchange Online's header.
    const [m365] = unreadableVerdicts([mb({ host: 'outlook.office365.com', auth: { provider: 'microsoft' } }, ['mx.example.com'])]);
    expect(m365).toMatch(/^mailbox support: policy\.authservIds names mx\.example\.com, a placeholder .*every sender is unverified; remove the authservIds line: a Microsoft 365 mailbox needs none/);
    expect(unreadableVerdicts([mb({ host: 'imap.gmail.com' }, ['mx.example.com'])])[0]).toMatch(/a Gmail mailbox needs none/);
    expect(unreadableVerdicts([mb({ host: 'mail.acme.com' }, ['mx.example.com'])])[0]).toMatch(/set it to your receiving host's authserv-id/);
    // The demo's mailboxes (no imap: fed by `mailroom ingest`) and a real host's id say nothing.
    expect(unreadableVerdicts([mb(undefined, ['mx.example.com']), mb({ host: 'mail.acme.com' }, ['mx.acme.com'])])).toEqual([]);
  });
});

describe('Authentication-Results as the mail record keeps them', () => {
  const mail = (headers: string[], from = 'CEO <ceo@customer-one.test>') =>
    Buffer.from([...headers, `From: ${from}`, 'To: support@acme.example', 'Subject: pay this', 'Message-ID: <ar@x>', '', 'body', ''].join('\r\n'));
  const parsed = async (raw: Buffer) => parseMail(raw, { sha256: sha256Of(raw), size: raw.length });
  const mailbox = { id: 'support', policy: { authservIds: [MX] } };

  it('a sender who adds many DKIM signatures cannot push spf=fail and dmarc=fail out of the kept header', async () => {
    const dkim = Array.from({ length: 40 }, (_, i) => `dkim=pass (2048-bit key; unprotected) header.d=attacker${i}.example header.i=@attacker${i}.example header.b=AbCdEfGh${i}`);
    const raw = mail([`Authentication-Results: ${MX};\r\n ${dkim.join(';\r\n ')};\r\n spf=fail smtp.mailfrom=customer-one.test;\r\n dmarc=fail (p=reject) header.from=customer-one.test`]);
    expect(verdictOf(await parsed(raw), mailbox).result).toBe('fail');
  });

  it('finds the receiving host\'s header below several internal hops', async () => {
    const hops = Array.from({ length: 5 }, (_, i) => `Authentication-Results: relay${i}.internal.example; none`);
    const record = await parsed(mail([...hops, `Authentication-Results: ${MX}; dmarc=fail header.from=customer-one.test`]));
    expect(verdictOf(record, mailbox).result).toBe('fail');
  });

  it('a pass written by the sender below the receiving host\'s Received header does not count', async () => {
    const record = await parsed(mail([
      `Authentication-Results: ${MX}; spf=softfail smtp.mailfrom=customer-one.test; dmarc=none header.from=customer-one.test`,
      'Received: from evil.test (evil.test [203.0.113.9]) by mx.acme.example with ESMTPS id 1; Sat, 28 Nov 2026 11:02:00 +0000',
      `Authentication-Results: ${MX}; dmarc=pass header.from=customer-one.test`,
    ]));
    expect(record.authHops).toEqual([0, 1]);
    expect(verdictOf(record, mailbox).result).toBe('none');
  });

  it('a second From header, or a From list, makes the mail unverified', async () => {
    const ok = [`Authentication-Results: ${MX}; dmarc=pass header.from=customer-one.test`];
    expect(verdictOf(await parsed(mail(ok)), mailbox).result).toBe('pass');
    expect(verdictOf(await parsed(mail(ok, 'ceo@customer-one.test, bob@partner.example')), mailbox).result).toBe('none');
    expect(verdictOf(await parsed(mail([...ok, 'From: bob@partner.example'])), mailbox).result).toBe('none');
  });

  it('an IDN sender\'s pass counts: the record keeps the From in Unicode, the host writes header.from in punycode (or Unicode)', async () => {
    const idn = (from: string) => [`Authentication-Results: ${MX}; spf=pass smtp.mailfrom=${from}; dkim=pass header.d=${from}; dmarc=pass header.from=${from}`];
    const ascii = await parsed(mail(idn('xn--bcher-kva.example'), 'Bob <bob@xn--bcher-kva.example>'));
    expect(ascii.from?.address).toBe('bob@bücher.example');
    expect(verdictOf(ascii, mailbox).result).toBe('pass');
    expect(verdictOf(await parsed(mail(idn('bücher.example'), 'Bob <bob@xn--bcher-kva.example>')), mailbox).result).toBe('pass');
    // Still another domain: a pass for xn--bcher-kva.example says nothing about büch.example.
    expect(verdictOf(await parsed(mail(idn('xn--bcher-kva.example'), 'Bob <bob@büch.example>')), mailbox).result).toBe('none');
    // Without a DMARC result, an SPF/DKIM pass for the punycode form aligns with the Unicode From.
    const noDmarc = [`Authentication-Results: ${MX}; spf=pass smtp.mailfrom=bob@xn--bcher-kva.example`];
    expect(verdictOf(await parsed(mail(noDmarc, 'bob@xn--bcher-kva.example')), mailbox).result).toBe('pass');
  });

  it('a host that writes its header in latin1 keeps its bytes: only valid UTF-8 is read as UTF-8', async () => {
    // 'bücher' in latin1 (0xFC) is not UTF-8: read as UTF-8 it would be 'b\ufffdcher', another domain.
    const latin1 = Buffer.concat([Buffer.from(`Authentication-Results: ${MX}; dmarc=pass header.from=`), Buffer.from('bücher.example', 'latin1'), Buffer.from('\r\n')]);
    const raw = Buffer.concat([latin1, mail([], 'Bob <bob@xn--bcher-kva.example>')]);
    expect(verdictOf(await parsed(raw), mailbox).result).toBe('pass');
  });

  it('keeps Exchange\'s topmost AuthAs: Internal, never a sender\'s copy below it', async () => {
    const exchange = { id: 'm365', imap: { host: 'outlook.office365.com' }, policy: { authservIds: [] } } as unknown as Parameters<typeof verdictOf>[1];
    const anon = await parsed(mail([`Authentication-Results: dkim=none (message not signed) header.d=none;dmarc=none action=none header.from=customer-one.test;compauth=none reason=405`, 'X-MS-Exchange-Organization-AuthAs: Anonymous', 'X-MS-Exchange-Organization-AuthAs: Internal']));
    expect(anon.authAs).toBe('anonymous');
    expect(verdictOf(anon, exchange).result).toBe('none');
  });
});

describe('what the text of a mail says of its sender (senderNote)', () => {
  const mail = (headers: string[]) => Buffer.from([...headers, 'From: Ana <ana@customer-one.test>', 'To: support@acme.example', 'Subject: new IBAN', 'Message-ID: <note@x>', '', 'body', ''].join('\r\n'));
  const note = async (headers: string[], mailbox: Parameters<typeof senderNote>[1]) => {
    const raw = mail(headers);
    return senderNote(await parseMail(raw, { sha256: sha256Of(raw), size: raw.length }), mailbox);
  };
  const trusted = { id: 'support', policy: { authservIds: [MX] } };
  const generic = { id: 'support', imap: { host: 'mail.example.com' }, policy: { authservIds: [] } } as unknown as Parameters<typeof senderNote>[1];

  it('a forged sender gets a warning, an unverified one a note, a verified one nothing', async () => {
    expect(await note([`Authentication-Results: ${MX}; dmarc=fail header.from=customer-one.test`], trusted)).toMatch(/^Warning: the sender could not be verified \(.*dmarc=fail/);
    expect(await note([`Authentication-Results: ${MX}; spf=softfail smtp.mailfrom=customer-one.test; dmarc=none header.from=customer-one.test`], trusted)).toMatch(/^Note: the receiving server did not verify the sender \(.*\); this mail carries their name on the strength of its From address alone\.$/);
    expect(await note([], trusted)).toMatch(/^Note: .*no Authentication-Results from mx\.acme\.example/);
    expect(await note([`Authentication-Results: ${MX}; dmarc=pass header.from=customer-one.test`], trusted)).toBeUndefined();
  });

  it('a mailbox with no server to believe adds no note to every mail (config check says it once)', async () => {
    expect(await note([], generic)).toBeUndefined();
    expect(await note([`Authentication-Results: ${MX}; dmarc=pass header.from=customer-one.test`], generic)).toBeUndefined();
  });
});
