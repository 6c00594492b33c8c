import { describe, expect, it } from 'vitest';
import { parseAuthResults, senderVerdict } from '../../src/mail/auth-results.js';

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
