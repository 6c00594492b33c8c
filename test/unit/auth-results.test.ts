import { describe, expect, it } from 'vitest';
import { parseAuthResults, senderVerdict } from '../../src/mail/auth-results.js';
import { parseMail } from '../../src/mail/parse.js';
import { sha256Of } from '../../src/mail/store.js';

const MX = 'mx.acme.example';

describe('senderVerdict', () => {
  it.each([
    ['dmarc=fail', [`${MX}; dkim=none; spf=softfail smtp.mailfrom=partner.example; dmarc=fail (p=reject) header.from=partner.example`], 'fail'],
    ['spf=fail', [`${MX}; spf=fail smtp.mailfrom=partner.example`], 'fail'],
    ['every DKIM signature fails', [`${MX}; dkim=fail header.d=partner.example; dkim=fail header.d=esp.example`], 'fail'],
    ['one DKIM fails, one passes', [`${MX}; dkim=fail header.d=partner.example; dkim=pass header.d=esp.example`], 'pass'],
    ['dmarc=pass beats a failed list signature', [`${MX}; dkim=fail; dmarc=pass header.from=partner.example`], 'pass'],
    ['version number and comments', [`${MX} 1; (received over TLS) dmarc=fail (p=none dis=none) header.from=x.example`], 'fail'],
    ['upper-case id', [`MX.ACME.EXAMPLE; dmarc=fail`], 'fail'],
    ['nothing conclusive', [`${MX}; dkim=none; spf=none`], 'none'],
  ])('%s -> %s', (_n, values, result) => {
    expect(senderVerdict(values, [MX]).result).toBe(result);
  });

  it('ignores headers from other hosts: a sender writes its own "pass"', () => {
    expect(senderVerdict([`mx.partner.example; dmarc=pass; spf=pass`], [MX])).toMatchObject({ result: 'none' });
    // Ours is on top; the sender's forged one below it with our id does not count.
    expect(senderVerdict([`${MX}; dmarc=fail header.from=partner.example`, `${MX}; dmarc=pass`], [MX])).toMatchObject({ result: 'fail' });
  });

  it('a ( or ; inside a quoted value the sender chose neither hides a failure nor invents a pass', () => {
    // The sender's MAIL FROM, quoted by the receiving host: "(x" opened a comment that swallowed dmarc=fail.
    expect(senderVerdict([`${MX}; spf=pass smtp.mailfrom="(x"@evil.test; dkim=none; dmarc=fail (p=reject) header.from=customer-one.test`], [MX])).toMatchObject({ result: 'fail' });
    expect(senderVerdict([`${MX}; spf=none smtp.mailfrom="a;dmarc=pass"@evil.test; dkim=none`], [MX])).toMatchObject({ result: 'none' });
    // Malformed (an unclosed quote or comment) still fails when it says fail.
    expect(senderVerdict([`${MX}; spf=pass smtp.mailfrom="x@evil.test; dmarc=fail header.from=customer-one.test`], [MX])).toMatchObject({ result: 'fail' });
    expect(senderVerdict([`${MX}; spf=pass (unclosed; dmarc=fail`], [MX])).toMatchObject({ result: 'fail' });
  });

  it('reads nothing when no authserv-id is configured', () => {
    expect(senderVerdict([`${MX}; dmarc=fail`], [])).toMatchObject({ result: 'none', detail: /no authservIds/ });
  });

  it('parses method results with nested comments', () => {
    expect(parseAuthResults('mx.example (a (b) c); spf=pass (x) smtp.mailfrom=a; dkim/1=fail')).toEqual({
      authservId: 'mx.example',
      results: [{ method: 'spf', result: 'pass' }, { method: 'dkim', result: 'fail' }],
    });
  });
});

describe('Authentication-Results as the mail record keeps them', () => {
  const mail = (headers: string[]) =>
    Buffer.from([...headers, 'From: CEO <ceo@customer-one.test>', 'To: support@acme.example', 'Subject: pay this', 'Message-ID: <ar@x>', '', 'body', ''].join('\r\n'));
  const parsed = async (raw: Buffer) => parseMail(raw, { sha256: sha256Of(raw), size: raw.length });

  it('a sender who adds many DKIM signatures cannot push spf=fail and dmarc=fail out of the kept header', async () => {
    const dkim = Array.from({ length: 12 }, (_, i) => `dkim=pass (2048-bit key; unprotected) header.d=attacker${i}.example header.i=@attacker${i}.example header.b=AbCdEfGh${i}`);
    const raw = mail([`Authentication-Results: ${MX};\r\n ${dkim.join(';\r\n ')};\r\n spf=fail smtp.mailfrom=customer-one.test;\r\n dmarc=fail (p=reject) header.from=customer-one.test`]);
    const record = await parsed(raw);
    expect(senderVerdict(record.authResults, [MX]).result).toBe('fail');
  });

  it('finds the receiving host\'s header below several internal hops', async () => {
    const hops = Array.from({ length: 5 }, (_, i) => `Authentication-Results: relay${i}.internal.example; none`);
    const record = await parsed(mail([...hops, `Authentication-Results: ${MX}; dmarc=fail header.from=customer-one.test`]));
    expect(senderVerdict(record.authResults, [MX]).result).toBe('fail');
  });
});
