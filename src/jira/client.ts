// The one way Mailroom talks to Jira Cloud (platform REST v3 and the JSM REST API), with the
// workaround user's Basic credentials. No retries here: BullMQ owns retries, so every failure
// comes back as a typed error (src/core/errors.ts) for the queue layer to decide on.
// core.ts makes the calls; the methods come in groups (users, groups, issues, service desk).
import type { Logger } from '../core/log.js';
import { attachmentMethods } from './attachments.js';
import { createJiraCore } from './core.js';
import { groupMethods } from './groups.js';
import { issueMethods, issuePropertyMethods, projectMethods, searchMethods } from './issues.js';
import { serviceDeskMethods } from './service-desk.js';
import type {
  AdfDoc,
  CreatedAttachment,
  CreatedIssue,
  CreatedRequest,
  CreateRequestInput,
  FoundIssue,
  GroupRef,
  JiraAccount,
  FoundProject,
  FoundServiceDesk,
  IssueTransition,
  Myself,
  UserSearchResult,
} from './types.js';
import { userMethods } from './users.js';
import { workflowMethods } from './workflow.js';

export interface JiraClientOptions {
  /** Site URL (https://acme.atlassian.net) or the scoped-token form https://api.atlassian.com/ex/jira/{cloudId}. */
  baseUrl: string;
  email: string;
  token: string;
  /** Per request; a hung Jira must become a retryable error, not a stuck worker. */
  timeoutMs: number;
  logger?: Logger;
  /** Called after every call; `status` is 0 when no HTTP answer arrived (network error, timeout), with `error` saying why. */
  onResponse?: (info: { operation: string; status: number; ms: number; error?: string }) => void;
  /**
   * Called the moment an answer's headers say "wait" (429, or 503 with Retry-After), before its
   * body is read: the Retry-After gate closes for every process without waiting for the error.
   * `reason` is the answer's RateLimit-Reason (which scope the limit holds).
   */
  onRetryAfter?: (ms: number, reason?: string) => void;
}

export interface JiraClient {
  findUsersByEmail(email: string): Promise<UserSearchResult>;
  findUserByEmail(email: string): Promise<JiraAccount | null>;
  myself(): Promise<Myself>;
  /** Project permissions are answered for `context`'s project when given, else "in any project". */
  myPermissions(keys: string[], context?: { projectKey?: string; projectId?: string }): Promise<Record<string, boolean>>;
  /** Names of the groups the token's account belongs to, nested ones included (/myself?expand=groups). */
  myGroups(): Promise<string[]>;
  /** The project behind a JSM service desk. */
  serviceDeskProject(serviceDeskId: string): Promise<{ projectId: string; projectKey: string }>;
  createUser(input: { emailAddress: string; displayName?: string; products: string[] }): Promise<JiraAccount>;
  addUserToGroup(input: { accountId: string } & GroupRef): Promise<'added' | 'already-member'>;
  groupMembers(group: GroupRef): Promise<JiraAccount[]>;
  createCustomer(input: { email: string; displayName: string }): Promise<JiraAccount | 'exists'>;
  addCustomersToServiceDesk(serviceDeskId: string, accountIds: string[]): Promise<void>;
  createIssue(fields: Record<string, unknown>, opts?: { properties?: { key: string; value: unknown }[] }): Promise<CreatedIssue>;
  /** The issue's fields; with `properties`, those issue properties too (absent ones are missing from `properties`). */
  getIssue(issueIdOrKey: string, fields?: string[], opts?: { properties?: string[] }): Promise<FoundIssue>;
  /** Account ids of the issue's watchers. */
  getWatchers(issueIdOrKey: string): Promise<string[]>;
  /** Account ids of a JSM request's participants (first page of 50: enough to decide trust). */
  getRequestParticipants(issueIdOrKey: string): Promise<string[]>;
  /** A comment; with `visibility`, seen only by that role or group (an internal note on a plain Jira issue). */
  addComment(issueIdOrKey: string, body: AdfDoc, opts?: { visibility?: { type: 'role' | 'group'; value: string } }): Promise<{ id: string }>;
  /** A JSM request's comment (plain text), public or internal (`public: false`: agents only). */
  addRequestComment(issueIdOrKey: string, body: string, isPublic: boolean): Promise<{ id: string }>;
  /** One comment: its author, body (ADF), JSM's `jsdPublic` when Jira says it, and whether `visibility` restricts it. */
  getComment(issueIdOrKey: string, commentId: string): Promise<{ id: string; authorId?: string; body: unknown; jsdPublic?: boolean; restricted: boolean }>;
  addAttachment(issueIdOrKey: string, filename: string, bytes: Uint8Array, contentType: string): Promise<CreatedAttachment[]>;
  /** An attachment's bytes (GET attachment/content/{id}?redirect=false), or `tooLarge` once more than `maxBytes` arrived. */
  getAttachmentContent(id: string, maxBytes: number): Promise<{ bytes: Buffer } | { tooLarge: true }>;
  setIssueProperty(issueIdOrKey: string, key: string, value: unknown): Promise<void>;
  /** The property's value, or undefined when the issue has no such property (a missing issue throws NotFoundError). */
  getIssueProperty(issueIdOrKey: string, key: string): Promise<unknown>;
  /** Issues matching the JQL, following pages up to `max` (default 100). */
  searchJql(jql: string, fields: string[], opts?: { max?: number; properties?: string[] }): Promise<FoundIssue[]>;
  createRequest(input: CreateRequestInput): Promise<CreatedRequest>;
  /** A project with its issue types (NotFoundError when it does not exist or is hidden from the token). */
  getProject(projectIdOrKey: string): Promise<FoundProject>;
  /** Whether the group exists (false on Jira's "Specified group does not exist."). */
  groupExists(group: GroupRef): Promise<boolean>;
  /** A JSM service desk (NotFoundError when it does not exist). */
  getServiceDesk(serviceDeskId: string): Promise<FoundServiceDesk>;
  /** A request type of a service desk (NotFoundError when either does not exist). */
  getRequestType(serviceDeskId: string, requestTypeId: string): Promise<{ id: string; name: string }>;
  /** Link two issues: `from` (outward) `type`'s outward name `to`, e.g. from duplicates to. */
  linkIssues(from: string, type: string, to: string): Promise<void>;
  getTransitions(issueIdOrKey: string): Promise<IssueTransition[]>;
  transitionIssue(issueIdOrKey: string, transitionId: string, resolution?: string): Promise<void>;
}

export function createJiraClient(opts: JiraClientOptions): JiraClient {
  const core = createJiraCore(opts);
  return {
    ...userMethods(core),
    ...groupMethods(core),
    ...serviceDeskMethods(core),
    ...issueMethods(core),
    ...attachmentMethods(core),
    ...issuePropertyMethods(core),
    ...searchMethods(core),
    ...projectMethods(core),
    ...workflowMethods(core),
  };
}
