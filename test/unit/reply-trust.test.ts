import { describe, expect, it } from 'vitest';
import { decideReply, listed, needsPeople, type ReplyFacts } from '../../src/deliver/reply-trust.js';

const base: ReplyFacts = {
  policy: { replies: 'participants', replyAllowed: [] },
  mailboxId: 'support',
  project: 'SUP',
  link: { source: 'subject', issueKey: 'SUP-1' },
  issueProject: 'SUP',
  sender: { email: 'carol@customer.example', accountId: 'acc-carol', auth: 'verified' },
  people: { reporter: 'acc-alice', watchers: ['acc-wendy'], participants: ['acc-pat'] },
};
const f = (over: Partial<ReplyFacts>, sender: Partial<ReplyFacts['sender']> = {}): ReplyFacts => ({ ...base, ...over, sender: { ...base.sender, ...sender } });

const rows: Array<[string, ReplyFacts, boolean, RegExp]> = [
  ['reporter, own project key', f({}, { accountId: 'acc-alice' }), true, /reported SUP-1/],
  ['watcher', f({}, { accountId: 'acc-wendy' }), true, /watches/],
  ['request participant', f({}, { accountId: 'acc-pat' }), true, /participant/],
  ['listed address', f({ policy: { replies: 'participants', replyAllowed: ['carol@customer.example'] } }), true, /replyAllowed/],
  ['listed agents domain', f({ policy: { replies: 'participants', replyAllowed: ['@customer.example'] } }), true, /replyAllowed/],
  ['anyone policy, stranger', f({ policy: { replies: 'anyone', replyAllowed: [] } }), true, /anyone/],
  ['thread link recorded by this mailbox', f({ link: { source: 'thread', issueKey: 'SUP-1', recordedBy: 'support' } }, { accountId: 'acc-alice' }), true, /delivered to SUP-1/],
  // Refused.
  ['stranger with an account', f({}), false, /not the reporter, a participant or a watcher/],
  ['stranger without an account', f({}, { accountId: undefined }), false, /no Jira account/],
  ['reporter whose From failed DMARC', f({}, { accountId: 'acc-alice', auth: 'failed' }), false, /authentication/],
  ['anyone policy does not admit a forged From', f({ policy: { replies: 'anyone', replyAllowed: [] } }, { auth: 'failed' }), false, /authentication/],
  ['a listed address with a forged From', f({ policy: { replies: 'participants', replyAllowed: ['carol@customer.example'] } }, { auth: 'failed' }), false, /authentication/],
  ['unverified reporter naming its issue by subject key only', f({}, { accountId: 'acc-alice', auth: 'unverified' }), false, /did not verify/],
  ['unverified listed address by subject key only', f({ policy: { replies: 'participants', replyAllowed: ['carol@customer.example'] } }, { auth: 'unverified' }), false, /did not verify/],
  ['unverified reporter answering a mail Mailroom delivered', f({ link: { source: 'thread', issueKey: 'SUP-1', recordedBy: 'support' } }, { accountId: 'acc-alice', auth: 'unverified' }), true, /delivered to SUP-1/],
  ['key of another project', f({ link: { source: 'subject', issueKey: 'HR-7' }, issueProject: 'HR' }, { accountId: 'acc-alice' }), false, /not an issue of this mailbox's project SUP/],
  ['thread of another mailbox and project', f({ link: { source: 'thread', issueKey: 'HR-7', recordedBy: 'hr' }, issueProject: 'HR' }, { accountId: 'acc-alice' }), false, /another mailbox \(hr\)/],
  ['JSM mailbox without a project names a key', f({ project: undefined }, { accountId: 'acc-alice' }), false, /not an issue of this mailbox's project/],
  ['lookalike domain is not the listed domain', f({ policy: { replies: 'participants', replyAllowed: ['@customer.example'] } }, { email: 'eve@evilcustomer.example' }), false, /not the reporter/],
];

describe('decideReply', () => {
  it.each(rows)('%s', (_n, facts, join, why) => {
    const v = decideReply(facts);
    expect(v.join).toBe(join);
    expect(v.why).toMatch(why);
  });
  it('asks for the issue people only when they can change the answer', () => {
    expect(needsPeople(f({}))).toBe(true);
    expect(needsPeople(f({ policy: { replies: 'anyone', replyAllowed: [] } }))).toBe(false);
    expect(needsPeople(f({}, { accountId: undefined }))).toBe(false);
    expect(needsPeople(f({}, { auth: 'failed' }))).toBe(false);
  });
  it('lists match canonical addresses and subdomains', () => {
    expect(listed('Carol@Customer.Example.', ['carol@customer.example'])).toBe(true);
    expect(listed('ann@eu.acme.com', ['@acme.com'])).toBe(true);
    expect(listed('ann@acme.com.evil.org', ['acme.com'])).toBe(false);
  });
});
