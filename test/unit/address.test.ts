import { describe, expect, it } from 'vitest';
import { canonicalAddress, canonicalDomain } from '../../src/core/address.js';
import { decide, screen } from '../../src/identity/policy.js';
import { policySchema } from '../../src/config/schema.js';

describe('canonicalAddress', () => {
  it.each([
    ['Eve@Example.ORG', 'eve@example.org'],
    ['eve@example.org.', 'eve@example.org'],
    ['eve@example.org..', 'eve@example.org'],
    ['<eve@example.org>', 'eve@example.org'],
    ['  eve@example.org ', 'eve@example.org'],
    ['bob@bücher.example', 'bob@xn--bcher-kva.example'],
    ['bob@BÜCHER.example.', 'bob@xn--bcher-kva.example'],
    ['"john"@example.com', 'john@example.com'],
    ['"john doe"@example.com', '"john doe"@example.com'],
    ['a+tag@sub.example.co.uk', 'a+tag@sub.example.co.uk'],
  ])('%s -> %s', (input, out) => {
    const c = canonicalAddress(input);
    expect(c.ok).toBe(true);
    expect(c.address).toBe(out);
  });

  it.each([
    ['no-at.example.org', /no @/],
    ['@example.org', /empty local part/],
    ['eve@', /empty domain/],
    ['eve@[192.0.2.1]', /IP address/],
    ['eve@localhost', /single-label/],
    ['eve@exa_mple.org', /valid host name/],
    ['eve@-bad.example', /valid host name/],
    [`${'a'.repeat(65)}@example.org`, /local part longer than 64/],
    [`a@${'b'.repeat(64)}.example`, /valid host name/],
    [`a@${Array.from({ length: 5 }, () => 'c'.repeat(60)).join('.')}.org`, /longer than 25[45]/],
    ['eve smith@example.org', /needs quoting/],
    ['eve\u0000@example.org', /control characters/],
  ])('refuses %s with a reason', (input, reason) => {
    const c = canonicalAddress(input);
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.reason).toMatch(reason);
  });

  it('configured domains take the same form', () => {
    expect(canonicalDomain('Example.ORG.')).toBe('example.org');
    expect(canonicalDomain('@bücher.example')).toBe('xn--bcher-kva.example');
    expect(policySchema.parse({ deniedDomains: ['Example.org.'] }).deniedDomains).toEqual(['example.org']);
  });

  it('refuses list entries that would match nothing: wildcards, several domains in one, whitespace (issue 23)', () => {
    const problems = (entries: string[]) => {
      const r = policySchema.safeParse({ deniedDomains: entries, allowedDomains: entries });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    const wild = problems(['*.wild.test']);
    expect(wild).toHaveLength(2);
    expect(wild[0]).toMatch(/^allowedDomains\.0|^deniedDomains\.0/);
    expect(wild.join('\n')).toMatch(/no wildcards; a domain covers its subdomains already \(write wild\.test/);
    expect(problems(['a.test, b.test']).join('\n')).toMatch(/holds several domains: give one domain per list entry/);
    expect(problems(['a.test b.test']).join('\n')).toMatch(/contains whitespace/);
    expect(problems(['not a domain!']).length).toBeGreaterThan(0);
    expect(problems(['@Example.org', 'mail.example.com.', 'bücher.example'])).toEqual([]);
  });
});

describe('policy sees the canonical address (finding 5)', () => {
  const policy = policySchema.parse({ autoCreate: 'user', deniedDomains: ['example.org', 'bücher.example'] });
  it.each(['eve@example.org.', 'EVE@EXAMPLE.ORG', 'eve@sub.example.org.', 'eve@xn--bcher-kva.example', 'eve@Bücher.example'])('%s is in a denied domain', (email) => {
    expect(decide(email, false, policy)).toMatchObject({ action: 'ignore', reason: 'denied-domain' });
  });
  it('an undeliverable address is refused with the reason, never looked up', () => {
    expect(screen('eve@[192.0.2.1]', policy)).toMatchObject({ lookup: false, reason: 'invalid-address', detail: expect.stringMatching(/IP address/) });
  });
  it('a quoted blocked local part is still blocked', () => {
    expect(screen('"postmaster"@example.com', policy)).toMatchObject({ lookup: false, reason: 'blocked-local-part' });
  });
});
