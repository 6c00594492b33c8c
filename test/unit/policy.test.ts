import { describe, expect, it } from 'vitest';
import { mailboxSchema, policySchema } from '../../src/config/schema.js';
import { decide, displayNameFor, inDomain, screen, selectParticipants } from '../../src/identity/policy.js';

const policy = (p: Record<string, unknown> = {}) => policySchema.parse(p);

describe('screen: which addresses are worth a lookup', () => {
  const p = policy();
  it.each([
    ['alice@example.com', true],
    ['mailer-daemon@example.com', false],
    ['MAILER-DAEMON@example.com'.toLowerCase(), false],
    ['postmaster@example.com', false],
    ['abuse@example.com', false],
    ['root@example.com', false],
    ['noreply@example.com', false],
    ['no-reply@example.com', false],
    ['no-reply-billing@example.com', false],
    ['donotreply@example.com', false],
    ['do-not-reply@example.com', false],
    ['bounce@example.com', false],
    ['bounces+abc@example.com', false],
    ['rootbeer@example.com', true],
    ['postmaster-team@example.com', true],
    ['not-an-address', false],
    ['a b@example.com', false],
  ])('%s -> lookup %s', (email, lookup) => {
    expect(screen(email, p).lookup).toBe(lookup);
  });

  it('uses the configured patterns instead of the defaults', () => {
    const custom = policy({ blockedLocalParts: ['^robot'] });
    expect(screen('robot1@x.com', custom).lookup).toBe(false);
    expect(screen('noreply@x.com', custom).lookup).toBe(true);
  });
});

describe('decide: what happens to a participant', () => {
  it.each([
    // [policy, email, found, flooded, expected action, reason/mode]
    [{ autoCreate: 'none' }, 'a@x.com', true, false, 'known', undefined],
    [{ autoCreate: 'none' }, 'a@x.com', false, false, 'ignore', 'auto-create-off'],
    [{ autoCreate: 'user' }, 'a@x.com', false, false, 'provision', 'user'],
    [{ autoCreate: 'customer', serviceDeskId: '1' }, 'a@x.com', false, false, 'provision', 'customer'],
    [{ autoCreate: 'user', deniedDomains: ['x.com'] }, 'a@x.com', false, false, 'ignore', 'denied-domain'],
    [{ autoCreate: 'user', deniedDomains: ['x.com'] }, 'a@mail.x.com', false, false, 'ignore', 'denied-domain'],
    [{ autoCreate: 'user', deniedDomains: ['x.com'] }, 'a@x.com', true, false, 'known', undefined],
    [{ autoCreate: 'user', allowedDomains: ['ok.com'] }, 'a@x.com', false, false, 'ignore', 'domain-not-allowed'],
    [{ autoCreate: 'user', allowedDomains: ['ok.com'] }, 'a@ok.com', false, false, 'provision', 'user'],
    [{ autoCreate: 'user', allowedDomains: ['ok.com'] }, 'a@notok.com', false, false, 'ignore', 'domain-not-allowed'],
    [{ autoCreate: 'user', allowedDomains: ['ok.com'], deniedDomains: ['bad.ok.com'] }, 'a@bad.ok.com', false, false, 'ignore', 'denied-domain'],
    [{ autoCreate: 'user' }, 'noreply@x.com', false, false, 'ignore', 'blocked-local-part'],
    [{ autoCreate: 'user' }, 'noreply@x.com', true, false, 'ignore', 'blocked-local-part'],
    [{ autoCreate: 'user' }, 'a@x.com', false, true, 'hold', 'flood'],
    [{ autoCreate: 'user' }, 'a@x.com', true, true, 'known', undefined],
    [{ autoCreate: 'user', deniedDomains: ['x.com'] }, 'a@x.com', false, true, 'ignore', 'denied-domain'],
  ] as const)('%j %s found=%s flooded=%s -> %s %s', (p, email, found, flooded, action, detail) => {
    const d = decide(email, found, policy(p), { flooded });
    expect(d.action).toBe(action);
    if (d.action === 'ignore' || d.action === 'hold') expect(d.reason).toBe(detail);
    if (d.action === 'provision') expect(d.mode).toBe(detail);
  });
});

describe('selectParticipants', () => {
  const mailbox = (resolve: Record<string, unknown>, addresses = ['support@acme.com']) =>
    mailboxSchema.parse({ id: 'support', addresses, policy: { resolve } });
  const record = {
    from: { address: 'Alice@Example.com', name: 'Alice' },
    to: [{ address: 'support@acme.com' }, { address: 'bob@example.com' }, { address: 'alice@example.com' }],
    cc: [{ address: 'carol@example.com', name: 'Carol' }, { address: 'SUPPORT@ACME.COM' }, { address: 'dave@example.com' }],
  };

  it('takes only the sender by default, lower-cased', () => {
    expect(selectParticipants(record, mailbox({}))).toEqual([{ email: 'alice@example.com', name: 'Alice', role: 'sender' }]);
  });

  it('adds To and Cc minus own addresses and duplicates, sender first', () => {
    const got = selectParticipants(record, mailbox({ to: true, cc: true }));
    expect(got.map((p) => `${p.role}:${p.email}`)).toEqual([
      'sender:alice@example.com',
      'to:bob@example.com',
      'cc:carol@example.com',
      'cc:dave@example.com',
    ]);
  });

  it('caps at resolve.max', () => {
    expect(selectParticipants(record, mailbox({ to: true, cc: true, max: 2 })).map((p) => p.email)).toEqual([
      'alice@example.com',
      'bob@example.com',
    ]);
  });

  it('never resolves the mailbox itself, even as sender', () => {
    const own = { from: { address: 'support@acme.com' }, to: [], cc: [] };
    expect(selectParticipants(own, mailbox({}))).toEqual([]);
  });

  it('copes with a mail without From', () => {
    expect(selectParticipants({ to: [{ address: 'x@y.com' }], cc: [] }, mailbox({ to: true }))).toEqual([{ email: 'x@y.com', role: 'to' }]);
  });
});

describe('small helpers', () => {
  it('inDomain matches the domain and its subdomains only', () => {
    expect(inDomain('example.com', 'example.com')).toBe(true);
    expect(inDomain('eu.example.com', 'example.com')).toBe(true);
    expect(inDomain('badexample.com', 'example.com')).toBe(false);
  });
  it('displayNameFor falls back to the local part, and always names the domain', () => {
    expect(displayNameFor('jo.smith@x.com', undefined)).toBe('jo.smith (x.com)');
    expect(displayNameFor('jo.smith@x.com', '  ')).toBe('jo.smith (x.com)');
    expect(displayNameFor('jo.smith@x.com', 'Jo Smith')).toBe('Jo Smith (x.com)');
  });

  it('displayNameFor: an outsider cannot wear a staff member\'s name, nor hide characters in it (issue 23)', () => {
    expect(displayNameFor('eve@evil.test', 'Alice Agent')).toBe('Alice Agent (evil.test)');
    expect(displayNameFor('eve@Evil.Test', 'Alice\u202e Agent\u200b\u0007')).toBe('Alice Agent (evil.test)');
    const long = displayNameFor('eve@evil.test', 'x'.repeat(400));
    expect(long).toHaveLength(255);
    expect(long.endsWith(' (evil.test)')).toBe(true);
  });
});
