// The rule for a reply to a resolved issue (src/deliver/resolved.ts): what it becomes, which
// transition reopens, and how the mailbox's knobs are validated.
import { describe, expect, it } from 'vitest';
import { decideResolvedReply, pickTransition, statusFacts, type ResolvedFacts } from '../../src/deliver/resolved.js';
import type { IssueTransition } from '../../src/jira/types.js';
import { mailboxSchema } from '../../src/config/schema.js';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';

const DAY = 86_400_000;
const now = Date.parse('2026-12-06T12:00:00Z');
const facts = (o: Partial<ResolvedFacts>): ResolvedFacts => ({ mode: 'reopen', windowMs: 30 * DAY, now, ...o });

describe('decideResolvedReply', () => {
  it('a reply to an issue not in the done category is a comment, whatever the mode', () => {
    for (const mode of ['comment', 'reopen', 'new-issue'] as const) {
      for (const category of ['new', 'indeterminate', undefined]) {
        expect(decideResolvedReply(facts({ mode, category }))).toEqual({ action: 'comment', resolved: false });
      }
    }
  });

  it('comment keeps the issue resolved; new-issue always makes a new one', () => {
    expect(decideResolvedReply(facts({ mode: 'comment', category: 'done' }))).toEqual({ action: 'comment', resolved: true });
    expect(decideResolvedReply(facts({ mode: 'new-issue', category: 'done', resolutionDate: new Date(now - DAY).toISOString() }))).toMatchObject({ action: 'new-issue' });
  });

  it('reopen within the window reopens; after it, a new issue saying how long ago it was resolved', () => {
    expect(decideResolvedReply(facts({ category: 'done', resolutionDate: new Date(now - 29 * DAY).toISOString() }))).toEqual({ action: 'reopen' });
    expect(decideResolvedReply(facts({ category: 'done', resolutionDate: new Date(now - 30 * DAY).toISOString() }))).toEqual({ action: 'reopen' });
    const late = decideResolvedReply(facts({ category: 'done', resolutionDate: new Date(now - 31 * DAY).toISOString() }));
    expect(late).toMatchObject({ action: 'new-issue' });
    expect((late as { why: string }).why).toMatch(/resolved 31 days ago .*resolvedReplyWindow/);
  });

  it('reads Jira Cloud\'s resolutiondate form (+0000 offset, no colon)', () => {
    expect(decideResolvedReply(facts({ category: 'done', resolutionDate: '2026-11-01T12:00:00.000+0000' }))).toMatchObject({ action: 'new-issue', why: expect.stringContaining('resolved 35 days ago') });
    expect(decideResolvedReply(facts({ category: 'done', resolutionDate: '2026-11-30T12:00:00.000-0500' }))).toEqual({ action: 'reopen' });
  });

  it('reopen without a resolution date (a workflow that sets none) reopens: nothing says it is old', () => {
    expect(decideResolvedReply(facts({ category: 'done' }))).toEqual({ action: 'reopen' });
    expect(decideResolvedReply(facts({ category: 'done', resolutionDate: 'garbage' }))).toEqual({ action: 'reopen' });
  });
});

describe('statusFacts', () => {
  it('reads statusCategory.key and resolutiondate, ignoring what is not a string', () => {
    expect(statusFacts({ status: { name: 'Done', statusCategory: { key: 'done' } }, resolutiondate: '2026-12-01T00:00:00.000+0000' })).toEqual({ category: 'done', resolutionDate: '2026-12-01T00:00:00.000+0000' });
    expect(statusFacts({ status: { name: 'Done' }, resolutiondate: null })).toEqual({});
    expect(statusFacts({ status: { statusCategory: { key: 3 } } })).toEqual({});
  });
});

const t = (id: string, name: string, toCategory: string): IssueTransition => ({ id, name, toCategory, resolutions: [] });

describe('pickTransition', () => {
  it('prefers Reopen, then Back to In Progress, then In Progress, then To Do; never one into done', () => {
    const close = t('31', 'Close', 'done');
    expect(pickTransition([close, t('11', 'To Do', 'new'), t('41', 'Reopen issue', 'new')], undefined)).toMatchObject({ id: '41' });
    expect(pickTransition([t('11', 'To Do', 'new'), t('51', 'Back to in progress', 'indeterminate'), t('21', 'In Progress', 'indeterminate')], undefined)).toMatchObject({ id: '51' });
    expect(pickTransition([t('11', 'To Do', 'new'), t('21', 'Start: In Progress', 'indeterminate')], undefined)).toMatchObject({ id: '21' });
    expect(pickTransition([close, t('61', 'Respond to customer', 'indeterminate')], undefined)).toMatchObject({ id: '61' });
    expect(pickTransition([close], undefined)).toEqual({ why: expect.stringMatching(/no transition out of done.*"Close" \(31\)/) });
    expect(pickTransition([], undefined)).toEqual({ why: expect.stringMatching(/offered: none/) });
  });

  it('takes the configured one by id or name, only when offered and leading out of done', () => {
    const offered = [t('41', 'Reopen', 'new'), t('71', 'Escalate', 'indeterminate'), t('31', 'Close', 'done')];
    expect(pickTransition(offered, 'escalate')).toMatchObject({ id: '71' });
    expect(pickTransition(offered, '71')).toMatchObject({ id: '71' });
    expect(pickTransition(offered, 'Back to work')).toEqual({ why: expect.stringMatching(/"Back to work" \(deliver.reopenTransition\) is not offered/) });
    expect(pickTransition(offered, 'Close')).toEqual({ why: expect.stringMatching(/leads to a done status/) });
  });
});

describe('deliver.resolvedReply configuration', () => {
  const mailbox = (deliver: Record<string, unknown>) => mailboxSchema.safeParse({ id: 'support', deliver: { project: 'SUP', ...deliver } });

  it('defaults: comment (today\'s behaviour), a 30 day window, no configured transition', () => {
    const r = mailbox({});
    expect(r.success && r.data.deliver).toMatchObject({ resolvedReply: 'comment', resolvedReplyWindow: '30d' });
    expect(r.success && r.data.deliver && 'reopenTransition' in r.data.deliver).toBe(false);
  });

  it('refuses an unknown mode, a bad window, an empty transition name, naming the key', () => {
    const bad = [
      [{ resolvedReply: 'close' }, 'resolvedReply'],
      [{ resolvedReplyWindow: '30 days' }, 'resolvedReplyWindow'],
      [{ resolvedReplyWindow: '0d' }, 'resolvedReplyWindow'],
      [{ reopenTransition: '  ' }, 'reopenTransition'],
    ] as const;
    for (const [deliver, key] of bad) {
      const r = mailbox(deliver);
      expect(r.success, JSON.stringify(deliver)).toBe(false);
      expect(JSON.stringify(r.error?.issues)).toContain(key);
    }
    expect(mailbox({ resolvedReply: 'reopen', reopenTransition: 'Reopen', resolvedReplyWindow: '14d' }).success).toBe(true);
  });

  it('the loader names the key and the valid values', () => {
    let problems: { path: string; message: string }[] = [];
    try {
      parseConfig({ jira: { site: 'https://acme.atlassian.net' }, mailboxes: [{ id: 'support', deliver: { project: 'SUP', resolvedReply: 'close' } }] }, {});
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems = e.problems;
    }
    expect(problems.map((p) => `${p.path}: ${p.message}`).join('\n')).toBe('mailboxes[0].deliver.resolvedReply: must be one of "comment", "reopen", "new-issue"');
  });
});
