// A reply to a resolved issue (status category done) follows its mailbox's deliver.resolvedReply
// (src/deliver/resolved.ts): the deliverer in this process, the Jira simulator over HTTP (its
// workflow: docs/jira-simulator-workflow.md), real Redis, a filesystem mail store.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { adfToText } from '../../src/deliver/adf.js';
import { MESSAGE_PROPERTY } from '../../src/deliver/deliverer.js';
import { FOLLOWUP_LABEL } from '../../src/deliver/resolved.js';
import { createMetrics, type Metrics } from '../../src/core/metrics.js';
import { FsMailStore } from '../../src/mail/store.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { PROJECT_PERMISSIONS, type SimIssue } from '../../src/jira-sim/state.js';
import { type RawMailInput } from '../helpers/deliver-testkit.js';
import { startDeliverRig, type DeliverRig } from '../helpers/deliver-rig.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { testMailbox } from '../helpers/sim-run.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const DAY = 86_400_000;
let jira: SeededSim;
let redis: Redis;
let prefix: string;
let store: FsMailStore;
let rig: DeliverRig;
let metrics: Metrics;

// Alice's replies may join any issue (policy.replyAllowed): no people lookups in the counts.
const box = (id: string, deliver: Record<string, unknown>) =>
  testMailbox({ id, addresses: [`${id}@acme.example`], policy: { replyAllowed: ['@acme.example'] }, deliver: { project: 'SUP', issueType: 'Task', ...deliver } });
const mailboxes = () => [
  box('plain', {}),
  box('reopen', { resolvedReply: 'reopen', resolvedReplyWindow: '30d' }),
  box('escalate', { resolvedReply: 'reopen', reopenTransition: 'Escalate' }),
  box('followup', { resolvedReply: 'new-issue' }),
  testMailbox({ id: 'desk', addresses: ['desk@acme.example'], policy: { replyAllowed: ['@acme.example'] }, deliver: { serviceDeskId: '1', requestTypeId: '10', project: 'HD', resolvedReply: 'new-issue' } }),
];

beforeAll(async () => {
  jira = await startSeededSim();
  redis = testRedis();
  store = new FsMailStore(mkdtempSync(join(tmpdir(), 'mr-resolved-')));
});
afterAll(async () => {
  await jira.close();
  redis.disconnect();
});
beforeEach(async () => {
  jira.reseed();
  prefix = uniquePrefix('resolved');
  metrics = createMetrics();
  rig = await startDeliverRig({ jira, redis, prefix, store, mailboxes: mailboxes(), metrics });
});
afterEach(async () => {
  await rig.close();
  await dropPrefix(redis, prefix);
});

const deliver = (mailboxId: string, m: RawMailInput) => rig.deliver(mailboxId, m);
const issue = (key: string): SimIssue => jira.sim.state.issue(key)!;
const statusOf = (key: string) => (issue(key).fields.status as { name: string; statusCategory: { key: string } });
const commentTexts = (key: string) => issue(key).comments.map((c) => adfToText(c.body as AdfDoc));

/** Jira calls by operation since the last reset (the simulator's counters). */
function calls(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(jira.sim.counters.snapshot().requests)) {
    const op = k.split(' ')[0]!;
    out[op] = (out[op] ?? 0) + n;
  }
  return out;
}

/** A first mail to the mailbox, made an issue, then resolved through Jira's Done transition (resolutiondate `daysAgo` back). */
async function resolvedIssue(mailboxId: string, id: string, daysAgo = 0): Promise<string> {
  const first = await deliver(mailboxId, { from: 'alice@acme.example', subject: `Broken ${id}`, messageId: `${id}@acme.example`, text: 'it is broken' });
  expect(first).toMatchObject({ outcome: 'delivered', kind: 'issue' });
  await jira.client().transitionIssue(first.issueKey, '31');
  expect(statusOf(first.issueKey).statusCategory.key).toBe('done');
  if (daysAgo) issue(first.issueKey).fields.resolutiondate = new Date(Date.now() - daysAgo * DAY).toISOString();
  return first.issueKey;
}

const reply = (to: string, id: string, text = 'it broke again'): RawMailInput => ({ from: 'alice@acme.example', subject: 'Re: Broken', messageId: id, inReplyTo: to, references: [to], text });
const counted = async (outcome: string) => (await metrics.resolvedReplies.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
const trail = async (id: string) => (await rig.audit.read(id)).filter((e) => e.step === 'resolved-reply').map((e) => [e.outcome, e.jira, e.detail]);

describe('a reply to a resolved issue', () => {
  it('a reply to an open issue costs the same Jira calls in every mode: one GET (comment record and status), the comment, the record', { timeout: 30_000 }, async () => {
    for (const mailboxId of ['plain', 'reopen', 'followup']) {
      const first = await deliver(mailboxId, { from: 'alice@acme.example', subject: 'Open', messageId: `open-${mailboxId}@acme.example`, text: 'x' });
      jira.sim.counters.reset();
      const r = await deliver(mailboxId, reply(`open-${mailboxId}@acme.example`, `open-r-${mailboxId}@acme.example`));
      expect(r).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: first.issueKey });
      // Before this rule the comment record was read with getIssueProperty: one read then, one now.
      expect(calls(), mailboxId).toEqual({ getIssue: 1, addComment: 1, setIssueProperty: 1 });
    }
  });

  it('comment (the default): the reply is a comment and the issue stays resolved', { timeout: 30_000 }, async () => {
    const key = await resolvedIssue('plain', 'c1');
    jira.sim.counters.reset();
    const r = await deliver('plain', reply('c1@acme.example', 'c1-r@acme.example'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: key });
    expect(commentTexts(key)).toHaveLength(1);
    expect(statusOf(key).name).toBe('Done');
    expect(calls()).toEqual({ getIssue: 1, addComment: 1, setIssueProperty: 1 });
    expect(jira.sim.state.allIssues()).toHaveLength(1);
    expect(await counted('comment')).toBe(1);
  });

  it('reopen: the comment, then Jira\'s Reopen transition; audited', { timeout: 30_000 }, async () => {
    const key = await resolvedIssue('reopen', 'o1', 3);
    jira.sim.counters.reset();
    const r = await deliver('reopen', reply('o1@acme.example', 'o1-r@acme.example'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: key });
    expect(commentTexts(key)[0]).toContain('it broke again');
    expect(statusOf(key)).toEqual({ name: 'To Do', statusCategory: { key: 'new' } });
    expect(issue(key).fields.resolutiondate).toBeNull();
    expect(calls()).toEqual({ getIssue: 1, addComment: 1, setIssueProperty: 1, getTransitions: 1, doTransition: 1 });
    expect(await trail('o1-r@acme.example')).toEqual([['reopened', key, 'transition "Reopen" (41)']]);
    expect(await counted('reopened')).toBe(1);
  });

  it('reopen interrupted after the comment (Jira rate-limits the transition read): the retry reopens, the comment is not repeated', { timeout: 30_000 }, async () => {
    const key = await resolvedIssue('reopen', 'o2');
    jira.sim.faults.rateLimit({ count: 1, retryAfterSec: 1, operation: 'getTransitions' });
    const r = await deliver('reopen', reply('o2@acme.example', 'o2-r@acme.example'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: key });
    expect(commentTexts(key)).toHaveLength(1);
    expect(statusOf(key).name).toBe('To Do');
    expect(jira.sim.counters.count('getTransitions')).toBe(2);
    expect((await trail('o2-r@acme.example')).map((e) => e[0])).toEqual(['reopened']);
  });

  it('reopen with no transition out of done (workflow), or a configured one Jira does not offer: the comment stays, the audit says why', { timeout: 30_000 }, async () => {
    const key = await resolvedIssue('reopen', 'n1');
    jira.sim.state.workflow = jira.sim.state.workflow.filter((t) => t.name !== 'Reopen');
    const r = await deliver('reopen', reply('n1@acme.example', 'n1-r@acme.example'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: key });
    expect(commentTexts(key)).toHaveLength(1);
    expect(statusOf(key).name).toBe('Done');
    expect(await counted('not-reopened')).toBe(1);
    expect(await trail('n1-r@acme.example')).toEqual([['not-reopened', key, 'no transition out of done is offered from the issue\'s status; offered: none']]);

    const key2 = await resolvedIssue('escalate', 'n2');
    await deliver('escalate', reply('n2@acme.example', 'n2-r@acme.example'));
    expect(commentTexts(key2)).toHaveLength(1);
    expect(statusOf(key2).name).toBe('Done');
    expect((await trail('n2-r@acme.example'))[0]).toEqual(['not-reopened', key2, 'the transition "Escalate" (deliver.reopenTransition) is not offered from the issue\'s status; offered: none']);
  });

  it('reopen refused by Jira (no Transition issues permission): the comment stays, audited, the project is not held', { timeout: 30_000 }, async () => {
    const key = await resolvedIssue('reopen', 'p1');
    const admin = jira.sim.state.accounts.get(jira.site.admin.accountId)!;
    admin.siteAdmin = false;
    for (const p of PROJECT_PERMISSIONS) admin.permissions.delete(p);
    admin.projectPermissions.set('SUP', new Set(PROJECT_PERMISSIONS.filter((p) => p !== 'TRANSITION_ISSUES')));
    const r = await deliver('reopen', reply('p1@acme.example', 'p1-r@acme.example'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: key });
    expect(commentTexts(key)).toHaveLength(1);
    expect(statusOf(key).name).toBe('Done');
    const [ev] = await trail('p1-r@acme.example');
    expect(ev?.[0]).toBe('not-reopened');
    expect(ev?.[2]).toMatch(/^Jira refused the transition: .*permission to transition/);
    // A later mail to the project is delivered as usual (the refusal did not hold SUP).
    expect(await deliver('reopen', { from: 'alice@acme.example', subject: 'Next', messageId: 'p1-next@acme.example', text: 'x' })).toMatchObject({ outcome: 'delivered', kind: 'issue' });
  });

  it('reopen, but the reply comes later than resolvedReplyWindow after the resolution: a new issue, linked, labelled', { timeout: 30_000 }, async () => {
    const key = await resolvedIssue('reopen', 'w1', 31);
    const r = await deliver('reopen', reply('w1@acme.example', 'w1-r@acme.example'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    expect(r.issueKey).not.toBe(key);
    expect(issue(key).comments).toHaveLength(0);
    expect(statusOf(key).name).toBe('Done');
    const made = issue(r.issueKey);
    expect(made.fields.labels).toEqual([FOLLOWUP_LABEL]);
    expect(adfToText(made.fields.description as AdfDoc)).toMatch(new RegExp(`^This mail answers ${key}, which was not reopened for it: it was resolved 31 days ago`));
    expect(made.links).toEqual([expect.objectContaining({ type: 'Relates', outwardIssueId: issue(key).id })]);
    expect((await trail('w1-r@acme.example')).map((e) => e[0])).toEqual(['new-issue', 'linked']);

    // Within the window the same mailbox reopens.
    const key2 = await resolvedIssue('reopen', 'w2', 29);
    expect(await deliver('reopen', reply('w2@acme.example', 'w2-r@acme.example'))).toMatchObject({ kind: 'comment', issueKey: key2 });
    expect(statusOf(key2).name).toBe('To Do');
  });

  it('new-issue: a new linked issue; a lost create answer and a failed link are retried without a second issue; later replies thread to the new issue', { timeout: 40_000 }, async () => {
    const key = await resolvedIssue('followup', 'f1');
    // The create is made but its answer is lost; the link fails once (rate limited): both retried.
    jira.sim.faults.loseReply(1, 'createIssue');
    jira.sim.faults.rateLimit({ count: 1, retryAfterSec: 1, operation: 'linkIssues' });
    const m = reply('f1@acme.example', 'f1-r@acme.example', 'still broken, new details\n\nOn Mon, Alice wrote:\n> it is broken');
    const r = await deliver('followup', m);
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    expect(jira.sim.state.allIssues()).toHaveLength(2);
    expect(jira.sim.counters.count('createIssue')).toBe(2); // the resolved issue's and this one's: made once
    const made = issue(r.issueKey);
    expect(made.fields.labels).toEqual([FOLLOWUP_LABEL]);
    expect(made.properties.get(MESSAGE_PROPERTY)).toMatchObject({ id: 'f1-r@acme.example' });
    // A follow-up's quoted history is in the issue it follows: stripped, as from a comment.
    expect(adfToText(made.fields.description as AdfDoc)).toMatch(/still broken, new details$/);
    expect(made.links).toHaveLength(1);
    expect(issue(key).comments).toHaveLength(0);
    expect(statusOf(key).name).toBe('Done');

    // The same mail again (a re-run): the ledger answers, nothing new.
    await rig.deliverQ.obliterate({ force: true });
    expect(await deliver('followup', m)).toMatchObject({ kind: 'issue', issueKey: r.issueKey });
    expect(jira.sim.state.allIssues()).toHaveLength(2);
    expect(jira.sim.counters.count('createIssue')).toBe(2);
    expect(made.links).toHaveLength(1);

    // The customer answers the follow-up mail: a comment on the NEW issue (open), not another issue.
    const next = await deliver('followup', { ...reply('f1-r@acme.example', 'f1-r2@acme.example', 'and more'), references: ['f1@acme.example', 'f1-r@acme.example'] });
    expect(next).toMatchObject({ kind: 'comment', issueKey: r.issueKey });
    expect(jira.sim.state.allIssues()).toHaveLength(2);
    expect(await counted('new-issue')).toBe(1);

    // Another answer to the OLD thread (their client replied to the first mail again): the same
    // conversation, so it joins the follow-up too, not a third issue.
    const old = await deliver('followup', reply('f1@acme.example', 'f1-r3@acme.example', 'one more thing'));
    expect(old).toMatchObject({ kind: 'comment', issueKey: r.issueKey });
    expect(jira.sim.state.allIssues()).toHaveLength(2);
    expect(issue(key).comments).toHaveLength(0);
    expect(await trail('f1-r3@acme.example')).toEqual([['followed', r.issueKey, expect.stringContaining(`${key} is resolved`)]]);
  });

  it('new-issue: two replies to one resolved issue at once make one follow-up; the other reply joins it', { timeout: 40_000 }, async () => {
    const key = await resolvedIssue('followup', 'c1');
    const [a, b] = await Promise.all([
      deliver('followup', reply('c1@acme.example', 'c1-a@acme.example', 'first answer')),
      deliver('followup', reply('c1@acme.example', 'c1-b@acme.example', 'second answer')),
    ]);
    // Without the claim both replies made an issue: three in all.
    expect(jira.sim.state.allIssues()).toHaveLength(2);
    const kinds = [a, b].map((r) => r.kind).sort();
    expect(kinds).toEqual(['comment', 'issue']);
    const followUp = [a, b].find((r) => r.kind === 'issue')!.issueKey;
    expect([a, b].find((r) => r.kind === 'comment')!.issueKey).toBe(followUp);
    expect(issue(followUp).links).toHaveLength(1);
    expect(issue(key).comments).toHaveLength(0);
  });

  it('new-issue: a follow-up that no longer exists is replaced by a new one, labelled and linked, not a plain issue', { timeout: 40_000 }, async () => {
    const key = await resolvedIssue('followup', 'g1');
    const first = await deliver('followup', reply('g1@acme.example', 'g1-a@acme.example', 'first answer'));
    expect(first).toMatchObject({ kind: 'issue' });
    jira.sim.state.issues.delete(issue(first.issueKey).id);
    const second = await deliver('followup', reply('g1@acme.example', 'g1-b@acme.example', 'second answer'));
    expect(second).toMatchObject({ kind: 'issue' });
    expect(second.issueKey).not.toBe(first.issueKey);
    expect(issue(second.issueKey).fields.labels).toEqual([FOLLOWUP_LABEL]);
    expect(issue(second.issueKey).links).toHaveLength(1);
    // And the next reply to the old thread joins the new follow-up.
    const third = await deliver('followup', reply('g1@acme.example', 'g1-c@acme.example', 'third answer'));
    expect(third).toMatchObject({ kind: 'comment', issueKey: second.issueKey });
    expect(issue(key).comments).toHaveLength(0);
  });

  it('reopen noted, the comment held back (rate limit), an agent reopens meanwhile: the comment lands and the open issue is not moved', { timeout: 40_000 }, async () => {
    const key = await resolvedIssue('reopen', 's1');
    jira.sim.faults.rateLimit({ count: 1, retryAfterSec: 2, operation: 'addComment' });
    const pending = deliver('reopen', reply('s1@acme.example', 's1-r@acme.example'));
    await vi.waitFor(() => expect(jira.sim.counters.count('addComment')).toBeGreaterThan(0), { timeout: 10_000, interval: 50 });
    await jira.client().transitionIssue(key, '41'); // the agent's Reopen: To Do
    const transitionsBefore = jira.sim.counters.count('transitionIssue');
    expect(await pending).toMatchObject({ kind: 'comment', issueKey: key });
    expect(commentTexts(key).join('\n')).toContain('it broke again');
    expect(statusOf(key).name).toBe('To Do');
    expect(jira.sim.counters.count('transitionIssue')).toBe(transitionsBefore);
  });

  it('new-issue without Link issues permission: the new issue stands, unlinked, and the audit says so', { timeout: 30_000 }, async () => {
    const key = await resolvedIssue('followup', 'l1');
    const admin = jira.sim.state.accounts.get(jira.site.admin.accountId)!;
    admin.siteAdmin = false;
    for (const p of PROJECT_PERMISSIONS) admin.permissions.delete(p);
    admin.projectPermissions.set('SUP', new Set(PROJECT_PERMISSIONS.filter((p) => p !== 'LINK_ISSUES')));
    const r = await deliver('followup', reply('l1@acme.example', 'l1-r@acme.example'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    expect(issue(r.issueKey).links ?? []).toHaveLength(0);
    expect(adfToText(issue(r.issueKey).fields.description as AdfDoc)).toContain(`This mail answers ${key}`);
    const t = await trail('l1-r@acme.example');
    expect(t.map((e) => e[0])).toEqual(['new-issue', 'not-linked']);
    expect(t[1]?.[2]).toMatch(new RegExp(`${r.issueKey} not linked to ${key} .*permission to link issues`));
  });

  it('new-issue on a JSM mailbox: a resolved request gets a new request, linked (JSM\'s create takes no labels)', { timeout: 30_000 }, async () => {
    const first = await deliver('desk', { from: 'alice@acme.example', subject: 'Printer', messageId: 'j1@acme.example', text: 'broken' });
    expect(first).toMatchObject({ kind: 'request' });
    expect(statusOf(first.issueKey)).toEqual({ name: 'Waiting for support', statusCategory: { key: 'indeterminate' } });
    // Open: the reply is a comment.
    expect(await deliver('desk', reply('j1@acme.example', 'j1-a@acme.example'))).toMatchObject({ kind: 'comment', issueKey: first.issueKey });
    await jira.client().transitionIssue(first.issueKey, '31');
    const r = await deliver('desk', reply('j1@acme.example', 'j1-b@acme.example', 'broken again'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'request' });
    expect(r.issueKey).toMatch(/^HD-/);
    expect(r.issueKey).not.toBe(first.issueKey);
    expect(issue(r.issueKey).links).toEqual([expect.objectContaining({ type: 'Relates', outwardIssueId: issue(first.issueKey).id })]);
    expect(String(issue(r.issueKey).fields.description)).toContain(`This mail answers ${first.issueKey}`);
    expect(issue(first.issueKey).comments).toHaveLength(1);
  });
});
