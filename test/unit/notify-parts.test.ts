// The notifier's pure parts: event mapping, rules, event ids, the webhook signature, group
// addresses, SMTP outcomes per recipient, and the headers every notification carries.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';
import type { JiraAccount } from '../../src/jira/types.js';
import { classify } from '../../src/mail/classify.js';
import { eventOfWebhook, projectOfIssueKey, recipientsFor, safeId, webhookEventId, webhookFreshness, type NotificationRule } from '../../src/notify/events.js';
import { addressesOf, groupRef, mergeRecipients } from '../../src/notify/expand.js';
import { batches, loopHeaders, stableMessageId, subjectOf } from '../../src/notify/message.js';
import { loopDomainOf } from '../../src/mail/loop.js';
import { checkSignature, signBody } from '../../src/notify/signature.js';
import { outcomesOfError, outcomesOfSuccess } from '../../src/notify/smtp-outcome.js';

describe('events and rules', () => {
  it.each([
    ['jira:issue_created', 'issue_created'],
    ['jira:issue_updated', 'issue_updated'],
    ['comment_created', 'comment_created'],
    ['jira:issue_deleted', undefined],
    ['comment_updated', undefined],
    ['issue_created', undefined],
    [42, undefined],
  ])('webhookEvent %s -> %s', (given, expected) => {
    expect(eventOfWebhook(given)).toBe(expected);
  });

  it('reads the project from an issue key', () => {
    expect(projectOfIssueKey('SUP-12')).toBe('SUP');
    expect(projectOfIssueKey('MY_PROJ2-7')).toBe('MY_PROJ2');
    expect(projectOfIssueKey('sup-12')).toBeUndefined();
    expect(projectOfIssueKey('SUP-0')).toBeUndefined();
  });

  const rules: NotificationRule[] = [
    { project: 'SUP', events: ['issue_created', 'comment_created'], groups: ['support-agents'], users: ['lead@acme.example'] },
    { project: 'SUP', events: ['issue_created'], groups: ['Support-Agents', 'managers'], users: ['LEAD@acme.example', 'cto@acme.example'] },
    { project: 'HD', events: ['issue_created'], groups: ['helpdesk'], users: [] },
  ];

  it('unites every matching rule without repeats, and only for its project and event', () => {
    expect(recipientsFor(rules, 'SUP', 'issue_created')).toEqual({ groups: ['support-agents', 'managers'], users: ['lead@acme.example', 'cto@acme.example'] });
    expect(recipientsFor(rules, 'SUP', 'comment_created')).toEqual({ groups: ['support-agents'], users: ['lead@acme.example'] });
    expect(recipientsFor(rules, 'SUP', 'issue_updated')).toEqual({ groups: [], users: [] });
    expect(recipientsFor(rules, 'OPS', 'issue_created')).toEqual({ groups: [], users: [] });
  });

  it('refuses a rule naming an event that does not exist, saying which are valid', () => {
    const raw = {
      jira: { site: 'https://acme.atlassian.net' },
      mailboxes: [{ id: 'support' }],
      notifications: { rules: [{ project: 'SUP', events: ['issue_closed'], groups: ['g'] }] },
    };
    let problem: { path: string; message: string } | undefined;
    try {
      parseConfig(raw, {});
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problem = e.problems[0];
    }
    expect(problem?.path).toBe('notifications.rules[0].events[0]');
    expect(problem?.message).toBe('must be one of "issue_created", "issue_updated", "comment_created"');
  });
});

describe('event ids', () => {
  const base = { issueKey: 'SUP-1', event: 'issue_created' as const, timestamp: 1700000000000 };

  it('is made of what the signature covers: the same body gives the same id; issue, event, time and comment tell events apart', () => {
    const a = webhookEventId(base);
    expect(a).toBe('wh-ts-1700000000000-SUP-1-issue_created');
    expect(webhookEventId({ ...base })).toBe(a);
    expect(webhookEventId({ ...base, issueKey: 'SUP-2' })).not.toBe(a);
    expect(webhookEventId({ ...base, timestamp: 1700000000001 })).not.toBe(a);
    const c1 = webhookEventId({ ...base, event: 'comment_created', commentId: '10' });
    expect(webhookEventId({ ...base, event: 'comment_created', commentId: '11' })).not.toBe(c1);
    expect(webhookEventId({ ...base, event: 'issue_updated', changelogId: '7' })).not.toBe(webhookEventId({ ...base, event: 'issue_updated', changelogId: '8' }));
  });

  it('is safe as a BullMQ job id: no ":" and bounded length', () => {
    const id = webhookEventId({ ...base, issueKey: 'urn:x:' + 'y'.repeat(500) });
    expect(id).not.toContain(':');
    expect(id.length).toBeLessThanOrEqual(160);
    expect(safeId('a:b c')).toBe('a_b_c');
  });
});

describe('webhook freshness', () => {
  const now = Date.parse('2026-12-01T08:00:00Z');
  const cases: [string, unknown, boolean, RegExp?][] = [
    ['now', now, true],
    ['59 minutes old', now - 59 * 60_000, true],
    ['as a numeric string', String(now - 1000), true],
    ['61 minutes old (a replay)', now - 61 * 60_000, false, /more than 60 minutes old: refused as a replay/],
    ['two hours ahead', now + 2 * 3_600_000, false, /in the future/],
    ['missing', undefined, false, /no timestamp/],
    ['not a number', 'yesterday', false, /no timestamp/],
    ['zero', 0, false, /no timestamp/],
  ];
  it.each(cases)('%s', (_name, ts, ok, why) => {
    const r = webhookFreshness(ts, now);
    expect(r.ok).toBe(ok);
    if (!r.ok) expect(r.why).toMatch(why!);
  });
});

describe('webhook signature', () => {
  const secret = 'It5-a-s3cret-for-tests';
  const body = Buffer.from('{"webhookEvent":"jira:issue_created","issue":{"key":"SUP-1"}}');

  it('accepts the HMAC-SHA256 of the exact body, in either hex case', () => {
    expect(checkSignature(secret, body, signBody(secret, body))).toEqual({ ok: true });
    expect(checkSignature(secret, body, 'sha256=' + signBody(secret, body).slice(7).toUpperCase())).toEqual({ ok: true });
  });

  it.each([
    ['missing', undefined, /missing/],
    ['empty', '', /missing/],
    ['another secret', signBody('other-secret', body), /does not match/],
    ['the body changed by a byte', signBody(secret, Buffer.from(body.toString().replace('SUP-1', 'SUP-2'))), /does not match/],
    ['sha1 form', 'sha1=' + 'a'.repeat(40), /not of the form/],
    ['bare hex', signBody(secret, body).slice(7), /not of the form/],
    ['repeated header', [signBody(secret, body), signBody(secret, body)], /more than one/],
  ])('refuses %s', (_what, header, why) => {
    const r = checkSignature(secret, body, header as string | string[] | undefined);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.why).toMatch(why);
  });

  it('refuses everything when no secret is configured', () => {
    expect(checkSignature(undefined, body, signBody('', body)).ok).toBe(false);
  });
});

describe('group addresses', () => {
  const acct = (o: Partial<JiraAccount>): JiraAccount => ({ accountId: 'x', accountType: 'atlassian', displayName: 'X', active: true, ...o });

  it('drops inactive members and apps, counts hidden emails, lower-cases', () => {
    const r = addressesOf([
      acct({ emailAddress: 'Ana@Acme.example' }),
      acct({ emailAddress: 'gone@acme.example', active: false }),
      acct({}),
      acct({ accountType: 'app' }),
      acct({ active: false }),
    ]);
    expect(r).toEqual({ emails: ['ana@acme.example'], hidden: 1 });
  });

  it('deduplicates across groups and users, keeping first-seen order', () => {
    const e = mergeRecipients(
      [
        { name: 'a', addresses: { emails: ['x@e.example', 'y@e.example'], hidden: 1 } },
        { name: 'b', addresses: { emails: ['y@e.example', 'z@e.example'], hidden: 2 } },
      ],
      ['Z@e.example', 'w@e.example'],
    );
    expect(e.recipients).toEqual(['x@e.example', 'y@e.example', 'z@e.example', 'w@e.example']);
    expect(e.hiddenSkipped).toBe(3);
    expect(e.perGroup).toEqual({ a: 2, b: 2 });
  });

  it('keeps each address in its canonical form (punycode), and skips, naming it, what is not one deliverable address', () => {
    const e = mergeRecipients([{ name: 'a', addresses: { emails: ['juergen@müller.example', 'a@x.example, b@y.example'], hidden: 0 } }], ['Juergen@xn--Mller-kva.example', 'not an address']);
    expect(e.recipients).toEqual(['juergen@xn--mller-kva.example']);
    expect(e.unusable).toEqual([expect.stringMatching(/^"a@x\.example, b@y\.example" /), '"not an address" has no @']);
  });

  it('reads a UUID as a groupId and anything else as a name', () => {
    expect(groupRef('276f955c-63d7-42c8-9520-92d01dca0625')).toEqual({ groupId: '276f955c-63d7-42c8-9520-92d01dca0625' });
    expect(groupRef('jira-software-users')).toEqual({ groupName: 'jira-software-users' });
  });
});

describe('SMTP outcomes per recipient', () => {
  const rcpt = (recipient: string, responseCode: number) => ({ recipient, responseCode, response: `${responseCode} no` });

  it('a partly accepted message: accepted are sent, 5xx failed, 4xx deferred', () => {
    const r = outcomesOfSuccess(['a@x.example', 'b@x.example', 'c@x.example'], {
      accepted: ['a@x.example'],
      rejected: ['b@x.example', 'C@x.example'],
      rejectedErrors: [rcpt('b@x.example', 550), rcpt('C@x.example', 451)],
    });
    expect(r['a@x.example']).toEqual({ state: 'sent' });
    expect(r['b@x.example']).toMatchObject({ state: 'failed', why: '550 no' });
    expect(r['c@x.example']).toMatchObject({ state: 'deferred', why: '451 no' });
  });

  it.each([
    ['every recipient refused at RCPT, each by its own code', { code: 'EENVELOPE', responseCode: 451, rejectedErrors: [rcpt('a@x.example', 550), rcpt('b@x.example', 452)] }, ['failed', 'deferred']],
    ['the server down', { code: 'ECONNECTION', message: 'connect ECONNREFUSED 127.0.0.1:2525' }, ['deferred', 'deferred']],
    ['a 421 greeting', { code: 'EPROTOCOL', responseCode: 421, response: '421 busy' }, ['deferred', 'deferred']],
    ['DATA refused with 554', { code: 'EMESSAGE', responseCode: 554, response: '554 rejected' }, ['failed', 'failed']],
    ['authentication refused (535)', { code: 'EAUTH', responseCode: 535, response: '535 bad credentials' }, ['deferred', 'deferred']],
    ['our sender refused at MAIL FROM (553: not allowed to send as it)', { code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 553, response: '553 5.7.1 Sender address rejected' }, ['deferred', 'deferred']],
    ['a login required at MAIL FROM (530)', { code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 530, response: '530 5.7.0 Authentication required' }, ['deferred', 'deferred']],
    ['every recipient refused at RCPT for relaying (554 5.7.1 Relay access denied): the server, not the recipients', { code: 'EENVELOPE', responseCode: 554, rejectedErrors: [{ recipient: 'a@x.example', responseCode: 554, response: '554 5.7.1 <a@x.example>: Relay access denied' }, { recipient: 'b@x.example', responseCode: 550, response: '550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain' }] }, ['deferred', 'deferred']],
    ['Google\'s and sendmail\'s relay refusals wait too', { code: 'EENVELOPE', responseCode: 550, rejectedErrors: [{ recipient: 'a@x.example', responseCode: 550, response: '550 5.7.0 Mail relay denied [203.0.113.9]' }, { recipient: 'b@x.example', responseCode: 550, response: '550 5.7.1 <b@x.example>... Relaying denied' }] }, ['deferred', 'deferred']],
    ['"Relay rejected" and sendmail\'s "Relaying to <x> denied" wait too', { code: 'EENVELOPE', responseCode: 554, rejectedErrors: [{ recipient: 'a@x.example', responseCode: 554, response: '554 5.7.1 Relay rejected for policy reasons' }, { recipient: 'b@x.example', responseCode: 550, response: '550 5.7.1 Relaying to <b@x.example> denied' }] }, ['deferred', 'deferred']],
    ['a typographic apostrophe ("We don\u2019t relay") waits too', { code: 'EENVELOPE', responseCode: 550, rejectedErrors: [{ recipient: 'a@x.example', responseCode: 550, response: '550 We don\u2019t relay for you' }, rcpt('b@x.example', 451)] }, ['deferred', 'deferred']],
    // Postfix's refusal of an unknown user in a domain it relays for: that recipient's own, final.
    ['an unknown user in a relayed domain (Postfix: relay recipient table) is final', { code: 'EENVELOPE', responseCode: 550, rejectedErrors: [{ recipient: 'a@x.example', responseCode: 550, response: '550 5.1.1 <a@x.example>: Recipient address rejected: User unknown in relay recipient table' }, rcpt('b@x.example', 451)] }, ['failed', 'deferred']],
    ['the declared size refused at MAIL FROM (552)', { code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 552, response: '552 5.3.4 Message size exceeds fixed limit' }, ['failed', 'failed']],
  ])('%s', (_what, err, states) => {
    const r = outcomesOfError(['a@x.example', 'b@x.example'], err);
    expect([r['a@x.example']!.state, r['b@x.example']!.state]).toEqual(states);
  });
});

describe('the message', () => {
  it('carries the four loop-prevention headers, and comes back classified as our own', () => {
    const h = loopHeaders('{mailroom}', { issue: 'SUP-1', event: 'issue_created' });
    expect(h).toEqual({
      'Auto-Submitted': 'auto-generated',
      Precedence: 'bulk',
      'X-Auto-Response-Suppress': 'All',
      'X-Mailroom-Loop': 'mailroom; install={mailroom}; issue=SUP-1; event=issue_created',
    });
    const lower = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
    // Own, not auto-reply or list, although Auto-Submitted and Precedence are there too.
    expect(classify({ headers: lower, from: 'mailroom@acme.example', subject: '[SUP-1] Issue created' }).kind).toBe('own');
  });

  it('names smtp.from\'s domain in the loop header: ours comes back own, another company\'s Mailroom notification is automatic mail, not ours', () => {
    const h = loopHeaders('mailroom', { domain: loopDomainOf('Help@Bücher.Example'), issue: 'SUP-1', event: 'issue_created' });
    expect(h['X-Mailroom-Loop']).toBe('mailroom; install=mailroom; domain=xn--bcher-kva.example; issue=SUP-1; event=issue_created');
    const lower = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
    const mail = { headers: lower, from: 'help@xn--bcher-kva.example', subject: '[SUP-1] Issue created' };
    expect(classify({ ...mail, notificationDomains: ['bücher.example'] }).kind).toBe('own');
    expect(classify({ ...mail, notificationDomains: ['acme.example'] })).toEqual({ kind: 'auto-reply', reason: 'Auto-Submitted: auto-generated' });
  });

  it('has a subject naming the issue and event, with no line breaks from the summary', () => {
    expect(subjectOf({ issueKey: 'SUP-1', event: 'comment_created', summary: 'Printer\r\non fire', site: 'https://x' })).toBe('[SUP-1] New comment: Printer on fire');
    expect(subjectOf({ issueKey: 'SUP-1', event: 'issue_updated', site: 'https://x' })).toBe('[SUP-1] Issue updated');
  });

  it('has a Message-ID fixed by the event and its recipients', () => {
    const a = stableMessageId('e1', ['b@x', 'a@x'], 'acme.example');
    expect(stableMessageId('e1', ['a@x', 'b@x'], 'acme.example')).toBe(a);
    expect(stableMessageId('e2', ['a@x', 'b@x'], 'acme.example')).not.toBe(a);
    expect(a).toMatch(/^<mailroom\.[0-9a-f]{32}@acme\.example>$/);
  });

  it('splits recipients into BCC batches', () => {
    expect(batches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(batches([1, 2], 1)).toEqual([[1], [2]]);
    expect(batches([], 50)).toEqual([]);
  });
});
