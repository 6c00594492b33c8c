// The simulated workflow: its statuses, transitions and resolutions, and what a status's workflow
// properties do (docs/jira-simulator-workflow.md has the sources). SimState holds the workflow a
// test may change (`state.workflow`, `state.statusProperties`); this file says what they mean.

/** A status of the simulated workflow: its name and statusCategory (StatusCategory.key: new, indeterminate, done). */
export interface SimStatus {
  name: string;
  statusCategory: { key: 'new' | 'indeterminate' | 'done' };
}
export const STATUSES = {
  todo: { name: 'To Do', statusCategory: { key: 'new' } },
  inProgress: { name: 'In Progress', statusCategory: { key: 'indeterminate' } },
  done: { name: 'Done', statusCategory: { key: 'done' } },
} satisfies Record<string, SimStatus>;

/** A workflow transition: valid only from the statuses in `from` (docs/jira-simulator-workflow.md). */
export interface SimTransition {
  id: string;
  name: string;
  from: string[];
  to: SimStatus;
}

/**
 * The workflow every simulated project has: To Do -> In Progress -> Done, Done sets a resolution
 * (and resolutiondate), and Reopen leads from Done back to To Do. GET transitions lists only
 * those valid from the status; tests change `state.workflow` (e.g. drop Reopen).
 */
export const TRANSITIONS: SimTransition[] = [
  { id: '11', name: 'To Do', from: ['In Progress'], to: STATUSES.todo },
  { id: '21', name: 'In Progress', from: ['To Do'], to: STATUSES.inProgress },
  { id: '31', name: 'Done', from: ['To Do', 'In Progress', 'Waiting for support'], to: STATUSES.done },
  { id: '41', name: 'Reopen', from: ['Done'], to: STATUSES.todo },
];
export const RESOLUTIONS = ['Done', "Won't Do", 'Duplicate', 'Cannot Reproduce'];

/**
 * Whether a status's workflow properties forbid new comments: they deny the Add comments
 * permission (`jira.permission.comment.denied`, with or without a numeric suffix).
 * `jira.issue.editable: false` alone does not (it locks edits; docs/jira-simulator-workflow.md
 * has the sources and the risk).
 */
export function commentsLockedBy(props: Record<string, string> | undefined): boolean {
  return !!props && Object.keys(props).some((k) => /^jira\.permission\.comment\.denied(\.\d+)?$/.test(k));
}
