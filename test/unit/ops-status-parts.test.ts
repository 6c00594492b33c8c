// The pure rules behind status, /readyz and config check --online: why a delayed job waits,
// what counts as Jira answering, how reachability reads, which settings need a permission.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { permissionPaths } from '../../src/ops/config-online.js';
import { describeJiraReach, displayUrl, isDown, isReachAnswer, jiraReachVerdict, type JiraReach } from '../../src/jira/reach.js';
import { whyDelayed } from '../../src/ops/queue-health.js';

describe('whyDelayed', () => {
  it.each([
    ['mail-inbound', { attemptsMade: 0, data: { pipeline: { people: [{ email: 'a@x.example', status: 'known' }, { email: 'b@x.example', status: 'pending' }] } } }, 'waiting-for-account', 'waiting for the account of b@x.example'],
    // A parked mail that also failed once is still waiting for its account: that is what it waits for now.
    ['mail-inbound', { attemptsMade: 2, failedReason: 'timeout', data: { pipeline: { people: [{ email: 'b@x.example', status: 'pending' }] } } }, 'waiting-for-account', 'waiting for the account of b@x.example'],
    ['mail-inbound', { attemptsMade: 1, failedReason: 'network error on Jira findUsers: ECONNREFUSED\n at …', data: { pipeline: { people: [{ email: 'b@x.example', status: 'known' }] } } }, 'backoff', 'retry backoff after attempt 1: network error on Jira findUsers: ECONNREFUSED'],
    ['jira-deliver', { attemptsMade: 0, data: { deliver: { threadWaitSince: 1 } } }, 'waiting-for-thread', 'waiting for the mail it answers to be delivered first'],
    ['jira-deliver', { attemptsMade: 3, failedReason: 'Jira createIssue failed with 502', data: {} }, 'backoff', 'retry backoff after attempt 3: Jira createIssue failed with 502'],
    ['notify', { attemptsMade: 0, data: {} }, 'scheduled', 'scheduled for later'],
    // Another queue's data shape does not fool it.
    ['notify', { attemptsMade: 0, data: { pipeline: { people: [{ email: 'b@x.example', status: 'pending' }] } } }, 'scheduled', 'scheduled for later'],
  ])('%s %j -> %s', (queue, job, kind, detail) => {
    expect(whyDelayed(queue, job)).toEqual({ kind, detail });
  });
});

describe('Jira reachability', () => {
  it.each([
    [200, true], [201, true], [401, true], [404, true], [429, true], [499, true],
    [0, false], [500, false], [502, false], [503, false],
  ])('status %i is an answer: %s', (status, reached) => {
    expect(isReachAnswer(status)).toBe(reached);
  });

  it.each([
    [0, 0, false, 'no traffic'],
    [0, 1000, true, 'never answered'],
    [5000, 1000, false, 'answered since the error'],
    [1000, 5000, false, 'a blip: failing for 4 s only'],
    [1000, 11_000, true, 'failing for 10 s with no answer between'],
    [1000, 1000, false, 'same millisecond: a blip'],
  ])('success at %i, error at %i: down = %s (%s)', (s, e, down) => {
    expect(isDown(s, e)).toBe(down);
  });

  it('never shows credentials or a query of the URL', () => {
    expect(displayUrl('https://bot:s3cret@acme.atlassian.net/?token=x')).toBe('https://acme.atlassian.net');
    expect(displayUrl('https://api.atlassian.com/ex/jira/abc-123/')).toBe('https://api.atlassian.com/ex/jira/abc-123');
  });

  const base: JiraReach = { url: 'https://acme.atlassian.net', calls: 10, errors: 4, errorRate: 0.4 };
  it('is ready without traffic, and unready once the latest call got no answer', () => {
    expect(jiraReachVerdict({ calls: 0, errors: 0, errorRate: 0 })).toEqual({ ok: true, detail: 'no Jira traffic recorded yet' });
    expect(jiraReachVerdict({ ...base, reachable: true, lastSuccessAt: '2026-12-01T08:00:00.000Z' })).toEqual({
      ok: true,
      detail: 'https://acme.atlassian.net answers (last success 2026-12-01T08:00:00.000Z); 4/10 calls failed in the last 5 min (40%)',
    });
    const down = { ...base, reachable: false, lastErrorAt: '2026-12-01T08:01:00.000Z', lastError: 'no answer on findUsers: ECONNREFUSED' };
    expect(describeJiraReach(down)).toBe(
      'https://acme.atlassian.net unreachable: no answer on findUsers: ECONNREFUSED at 2026-12-01T08:01:00.000Z; never answered; 4/10 calls failed in the last 5 min (40%)',
    );
    expect(jiraReachVerdict(down).ok).toBe(false);
  });
});

describe('permissionPaths', () => {
  const config = parseConfig(
    {
      jira: { site: 'https://acme.atlassian.net' },
      mailboxes: [
        { id: 'a', policy: { autoCreate: 'user', groups: ['g'] } },
        { id: 'b', policy: { autoCreate: 'customer', serviceDeskId: '1' } },
        { id: 'c', policy: { autoCreate: 'user' } },
        { id: 'd' },
      ],
    },
    {},
  );
  it.each([
    ['USER_PICKER', ['token']],
    ['ADMINISTER', ['mailboxes[0].policy.autoCreate', 'mailboxes[1].policy.autoCreate', 'mailboxes[2].policy.autoCreate']],
    ['SITE_ADMIN', ['mailboxes[0].policy.groups', 'mailboxes[2].policy.autoCreate']],
    ['ADMINISTER_PROJECTS', ['mailboxes[1].policy.serviceDeskId']],
  ] as const)('%s is needed by %j', (permission, paths) => {
    expect(permissionPaths(permission, config)).toEqual(paths);
  });
});
