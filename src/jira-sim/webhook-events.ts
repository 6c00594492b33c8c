// The bodies of the simulator's webhook events (webhooks.ts sends them): the issue and the
// comment as Jira's webhooks carry them. See webhooks.ts for the sources.
import { userDetailsJson, type SimContext } from './http.js';
import type { SimAccount, SimComment, SimIssue } from './state.js';

export function issueOfEvent(ctx: SimContext, issue: SimIssue): Record<string, unknown> {
  const f = issue.fields;
  return {
    id: issue.id,
    key: issue.key,
    self: `${ctx.url()}/rest/api/3/issue/${issue.id}`,
    fields: {
      summary: f.summary,
      project: f.project,
      issuetype: f.issuetype,
      status: f.status,
      reporter: f.reporter,
      created: f.created ?? issue.created,
    },
  };
}

/** The platform comment as REST returns it; `jsdPublic` only when `withJsd` (REST, not webhooks). */
export function commentJson(ctx: SimContext, issue: SimIssue, c: SimComment, withJsd: boolean): Record<string, unknown> {
  const author = c.authorId ? ctx.state.accounts.get(c.authorId) : undefined;
  return {
    self: `${ctx.url()}/rest/api/3/issue/${issue.id}/comment/${c.id}`,
    id: c.id,
    ...(author ? { author: userDetailsJson(ctx, author), updateAuthor: userDetailsJson(ctx, author) } : {}),
    body: c.body,
    created: c.created,
    updated: c.created,
    ...(c.visibility ? { visibility: c.visibility } : {}),
    ...(withJsd ? { jsdPublic: !c.internal } : {}),
  };
}

export function fireIssueCreated(ctx: SimContext, issue: SimIssue, by: SimAccount | undefined): void {
  ctx.state.webhooks.fire('jira:issue_created', {
    issue_event_type_name: 'issue_created',
    ...(by ? { user: userDetailsJson(ctx, by) } : {}),
    issue: issueOfEvent(ctx, issue),
  });
}

export function fireCommentCreated(ctx: SimContext, issue: SimIssue, c: SimComment): void {
  ctx.state.webhooks.fire('comment_created', { comment: commentJson(ctx, issue, c, false), issue: issueOfEvent(ctx, issue) });
}
