import { describe, expect, it } from 'vitest';
import { formatJobRef, parseJobRef } from '../../src/ops/ids.js';

const Q = ['mail-inbound', 'identity-provision', 'jira-deliver'];

describe('parseJobRef', () => {
  it.each([
    ['mail-inbound/support:1700000000:42', undefined, { queue: 'mail-inbound', id: 'support:1700000000:42' }],
    ['identity-provision/provision|acme.atlassian.net|a@b.c', undefined, { queue: 'identity-provision', id: 'provision|acme.atlassian.net|a@b.c' }],
    // Only the first '/' splits, so a Message-ID with slashes survives.
    ['jira-deliver/deliver|support|<a/b/c@x>', undefined, { queue: 'jira-deliver', id: 'deliver|support|<a/b/c@x>' }],
    // Text before '/' that is not a queue is part of a bare id.
    ['deliver|support|<a/b@x>', undefined, { id: 'deliver|support|<a/b@x>' }],
    ['support:1:2', undefined, { id: 'support:1:2' }],
    ['support:1:2', 'mail-inbound', { queue: 'mail-inbound', id: 'support:1:2' }],
    ['mail-inbound/x', 'mail-inbound', { queue: 'mail-inbound', id: 'x' }],
  ])('%s (--queue %s)', (arg, queue, want) => {
    expect(parseJobRef(arg, Q, queue)).toEqual(want);
  });

  it('refuses contradictions and empties', () => {
    expect(() => parseJobRef('mail-inbound/x', Q, 'jira-deliver')).toThrow(/--queue says jira-deliver/);
    expect(() => parseJobRef('mail-inbound/', Q)).toThrow(/no job id/);
    expect(() => parseJobRef('', Q)).toThrow(/empty/);
    expect(() => parseJobRef('x', Q, 'nope')).toThrow(/unknown queue "nope"/);
  });

  it('round-trips what failed list prints', () => {
    const id = 'provision|acme.atlassian.net|x/y@z';
    expect(parseJobRef(formatJobRef('identity-provision', id), Q)).toEqual({ queue: 'identity-provision', id });
  });
});
