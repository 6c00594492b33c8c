// What the rest of Mailroom sees of Jira: small, stable shapes, not Jira's full beans.

export type AccountType = 'atlassian' | 'customer' | 'app' | 'unknown';

export interface JiraAccount {
  accountId: string;
  accountType: AccountType;
  /** Absent when the person's privacy settings hide it. */
  emailAddress?: string;
  displayName: string;
  active: boolean;
}

export interface UserSearchResult {
  /** Accounts whose email equals the one asked for (case-insensitive). */
  accounts: JiraAccount[];
  /** True when Jira returned a single account without an email for a full-email query. */
  emailHidden: boolean;
}

export interface Myself {
  accountId: string;
  emailAddress?: string;
  displayName: string;
  active: boolean;
}

export interface GroupRef {
  groupId?: string;
  groupName?: string;
}

export interface CreatedIssue {
  id: string;
  key: string;
}

export interface FoundIssue {
  id: string;
  key: string;
  fields: Record<string, unknown>;
  /** Issue properties the search asked for (readable in results, not searchable by JQL). */
  properties?: Record<string, unknown>;
}

/** A workflow transition of an issue, as GET .../transitions?expand=transitions.fields answers. */
export interface IssueTransition {
  id: string;
  name: string;
  /** The status category of the status it leads to: 'new', 'indeterminate' or 'done'. */
  toCategory: string;
  /** The resolutions its screen offers (empty when the screen has no Resolution field). */
  resolutions: string[];
}

export interface CreatedAttachment {
  id: string;
  filename: string;
  size: number;
}

export interface CreateRequestInput {
  serviceDeskId: string;
  requestTypeId: string;
  summary: string;
  /** Plain text: JSM request fields take wiki/plain text unless isAdfRequest is set. */
  description: string;
  raiseOnBehalfOf: string;
  requestParticipants?: string[];
}

export interface CreatedRequest {
  issueId: string;
  issueKey: string;
}

/** Atlassian Document Format: the body of comments and descriptions in REST v3. */
export interface AdfDoc {
  type: 'doc';
  version: 1;
  content: unknown[];
}

export interface FoundProject {
  id: string;
  key: string;
  name: string;
  issueTypes: { id: string; name: string }[];
}

export interface FoundServiceDesk {
  id: string;
  projectKey: string;
  projectName: string;
}
