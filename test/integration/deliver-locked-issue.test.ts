// A reply to an issue whose status takes no comments (a Closed status with the workflow property
// jira.permission.comment.denied): Jira refuses the comment, with 400 and "…you do not have the
// permission to comment on this issue." (the simulator's default, the better-sourced answer) or
// with 403 (the other answer Jira could give: docs/jira-simulator-workflow.md). Either way the
// mail becomes a follow-up issue, labelled and linked, the project is not held and nothing
// pauses; later replies join the follow-up. A project without Add comments at all still fails
// the job naming ADD_COMMENTS and counts toward its breaker. The deliverer in this process, the
// Jira simulator over HTTP, real Redis, a filesystem mail store.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adfToText } from '../../src/deliver/adf.js';
import { FOLLOWUP_LABEL } from '../../src/deliver/resolved.js';
import { FsMailStore } from '../../src/mail/store.js';
import type { AdfDoc } from '../../src/jira/types.js';
import { GLOBAL_PERMISSIONS, PROJECT_PERMISSIONS, type SimIssue } from '../../src/jira-sim/state.js';
import { readBreaker } from '../../src/token/project-breaker.js';
import { type RawMailInput } from '../helpers/deliver-testkit.js';
import { startDeliverRig, type DeliverRig } from '../helpers/deliver-rig.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { testMailbox } from '../helpers/sim-run.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

let jira: SeededSim;
let redis: Redis;
let prefix: string;
let store: FsMailStore;
let rig: DeliverRig;
// The worker's token-gate hook: a refused token would land here (and pause the queues).
let authErrors: unknown[] = [];

const box = (id: string, deliver: Record<string, unknown>) =>
  testMailbox({ id, addresses: [`${id}@acme.example`], policy: { replyAllowed: ['@acme.example'] }, deliver: { project: 'SUP', issueType: 'Task', ...deliver } });
const mailboxes = [box('plain', {}), box('reopen', { resolvedReply: 'reopen' })];

beforeAll(async () => {
  jira = await startSeededSim();
  redis = testRedis();
  store = new FsMailStore(mkdtempSync(join(tmpdir(), 'mr-locked-')));
});
afterAll(async () => {
  await jira.close();
  redis.disconnect();
});
beforeEach(async () => {
  jira.reseed();
  authErrors = [];
  prefix = uniquePrefix('locked');
  rig = await startDeliverRig({ jira, redis, prefix, store, mailboxes, onAuthError: async (e) => void authErrors.push(e) });
});
afterEach(async () => {
  await rig.close();
  await dropPrefix(redis, prefix);
});

const deliver = (mailboxId: string, m: RawMailInput) => rig.deliver(mailboxId, m);
const issue = (key: string): SimIssue => jira.sim.state.issue(key)!;
const commentTexts = (key: string) => issue(key).comments.map((c) => adfToText(c.body as AdfDoc));
const reply = (to: string, id: string, text = 'it broke again'): RawMailInput => ({ from: 'alice@acme.example', subject: 'Re: Broken', messageId: id, inReplyTo: to, references: [to], text });
const trail = async (id: string) => (await rig.audit.read(id)).filter((e) => e.step === 'resolved-reply').map((e) => [e.outcome, e.jira]);

/** A first mail made an issue, then put in a Closed status (done category) with the given workflow properties. */
async function closedIssue(mailboxId: string, id: string, props: Record<string, string>): Promise<string> {
  const first = await deliver(mailboxId, { from: 'alice@acme.example', subject: `Broken ${id}`, messageId: `${id}@acme.example`, text: 'it is broken' });
  expect(first).toMatchObject({ outcome: 'delivered', kind: 'issue' });
  const i = issue(first.issueKey);
  i.fields.status = { name: 'Closed', statusCategory: { key: 'done' } };
  i.fields.resolution = { name: 'Done' };
  i.fields.resolutiondate = new Date().toISOString();
  jira.sim.state.statusProperties.set('Closed', props);
  return first.issueKey;
}

const LOCKED = { 'jira.issue.editable': 'false', 'jira.permission.comment.denied': '' };

describe('a reply to an issue whose status takes no comments', () => {
  for (const status of [400, 403] as const) {
    it(`Jira refuses the comment with ${status}: the mail becomes a follow-up issue, linked and labelled; nothing held, nothing paused; the next reply joins the follow-up`, { timeout: 30_000 }, async () => {
      jira.sim.state.commentRefusalStatus = status;
      const key = await closedIssue('plain', `l${status}`, LOCKED);
      const r = await deliver('plain', reply(`l${status}@acme.example`, `l${status}-r@acme.example`, 'still broken, new details'));
      expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue' });
      expect(r.issueKey).not.toBe(key);
      // Jira was asked, and refused: the locked issue has no comment and keeps its status.
      expect(jira.sim.counters.count('addComment')).toBe(1);
      expect(issue(key).comments).toEqual([]);
      expect((issue(key).fields.status as { name: string }).name).toBe('Closed');
      const made = issue(r.issueKey);
      expect(made.fields.labels).toEqual([FOLLOWUP_LABEL]);
      const description = adfToText(made.fields.description as AdfDoc);
      expect(description).toMatch(new RegExp(`^This mail answers ${key}, which was not reopened for it: Jira refused it as a comment there \\(the issue's status takes no comments\\)`));
      expect(description).toContain('still broken, new details');
      expect(made.links).toEqual([expect.objectContaining({ type: 'Relates', outwardIssueId: issue(key).id })]);
      expect(await trail(`l${status}-r@acme.example`)).toEqual([['comment-refused', key], ['new-issue', key], ['linked', r.issueKey]]);
      const refused = (await rig.audit.read(`l${status}-r@acme.example`)).find((e) => e.outcome === 'comment-refused')!;
      expect(refused.detail).toMatch(new RegExp(`addComment \\(${status}\\): Mailroom \\(workaround user\\), you do not have the permission to comment on this issue\\.`));
      // The project is not held, the token not refused.
      expect(await readBreaker(redis, prefix, 'SUP')).toBeUndefined();
      expect(authErrors).toEqual([]);
      expect(await rig.deliverQ.isPaused()).toBe(false);

      // The customer answers the first mail again: the reply joins the follow-up as a comment.
      const again = await deliver('plain', reply(`l${status}@acme.example`, `l${status}-r2@acme.example`, 'and again'));
      expect(again).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: r.issueKey });
      expect(commentTexts(r.issueKey).join('\n')).toContain('and again');
      expect(issue(key).comments).toEqual([]);
      expect(jira.sim.state.allIssues()).toHaveLength(2);
    });
  }

  it("an open issue at Jira Cloud's per-issue limit of comments (413): the reply becomes the follow-up, linked; the next reply joins it; nothing held or paused", { timeout: 30_000 }, async () => {
    jira.sim.state.issueLimits.comments = 1;
    const first = await deliver('plain', { from: 'alice@acme.example', subject: 'Chatty', messageId: 'lim@acme.example', text: 'first' });
    const key = first.issueKey;
    expect(await deliver('plain', reply('lim@acme.example', 'lim-r1@acme.example', 'one'))).toMatchObject({ kind: 'comment', issueKey: key });
    const r = await deliver('plain', reply('lim@acme.example', 'lim-r2@acme.example', 'two, past the limit'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    expect(jira.sim.counters.count('addComment', 413)).toBe(1);
    const made = issue(r.issueKey);
    expect(made.fields.labels).toEqual([FOLLOWUP_LABEL]);
    expect(adfToText(made.fields.description as AdfDoc)).toMatch(new RegExp(`^This mail answers ${key}, which was not reopened for it: it holds Jira's per-issue limit of comments`));
    expect(made.links).toEqual([expect.objectContaining({ type: 'Relates', outwardIssueId: issue(key).id })]);
    expect((await trail('lim-r2@acme.example')).map((e) => e[0])).toEqual(['comment-refused', 'new-issue', 'linked']);
    expect(await readBreaker(redis, prefix, 'SUP')).toBeUndefined();
    expect(authErrors).toEqual([]);
    expect(await rig.deliverQ.isPaused()).toBe(false);
    const again = await deliver('plain', reply('lim@acme.example', 'lim-r3@acme.example', 'three'));
    expect(again).toMatchObject({ kind: 'comment', issueKey: r.issueKey });
    expect(issue(key).comments).toHaveLength(1);
  });

  it('under resolvedReply: reopen, a refused comment makes the follow-up and no transition is tried', { timeout: 30_000 }, async () => {
    const key = await closedIssue('reopen', 'lr', LOCKED);
    jira.sim.state.workflow.push({ id: '51', name: 'Reopen', from: ['Closed'], to: { name: 'To Do', statusCategory: { key: 'new' } } });
    const r = await deliver('reopen', reply('lr@acme.example', 'lr-r@acme.example'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'issue' });
    expect(jira.sim.counters.count('doTransition')).toBe(0);
    expect((issue(key).fields.status as { name: string }).name).toBe('Closed');
    expect((await trail('lr-r@acme.example')).map((e) => e[0])).toEqual(['comment-refused', 'new-issue', 'linked']);
  });

  it('jira.issue.editable=false alone: Jira takes the comment (its comment check asks Add comments only), so the reply is a comment', { timeout: 30_000 }, async () => {
    const key = await closedIssue('plain', 'le', { 'jira.issue.editable': 'false' });
    const r = await deliver('plain', reply('le@acme.example', 'le-r@acme.example'));
    expect(r).toMatchObject({ outcome: 'delivered', kind: 'comment', issueKey: key });
    expect(commentTexts(key)).toHaveLength(1);
  });

  it('a project without Add comments at all: the job fails naming ADD_COMMENTS and the breaker counts it (not a follow-up per reply); no token pause', { timeout: 30_000 }, async () => {
    const first = await deliver('plain', { from: 'alice@acme.example', subject: 'Open', messageId: 'np@acme.example', text: 'x' });
    const admin = jira.sim.state.accounts.get(jira.site.admin.accountId)!;
    admin.siteAdmin = false;
    admin.permissions = new Set(GLOBAL_PERMISSIONS);
    admin.projectPermissions = new Map([['SUP', new Set(PROJECT_PERMISSIONS.filter((p) => p !== 'ADD_COMMENTS'))]]);
    await expect(deliver('plain', reply('np@acme.example', 'np-r@acme.example'))).rejects.toThrow(/lacks ADD_COMMENTS for addComment \(400\).*Grant ADD_COMMENTS to the workaround user in project SUP/);
    expect(issue(first.issueKey).comments).toEqual([]);
    expect(jira.sim.state.allIssues()).toHaveLength(1);
    expect(await readBreaker(redis, prefix, 'SUP')).toMatchObject({ permission: 'ADD_COMMENTS', failures: 1 });
    expect(authErrors).toEqual([]);
    expect(await rig.deliverQ.isPaused()).toBe(false);
  });
});
