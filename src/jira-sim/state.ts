// What the simulated Jira site holds: accounts, tokens, groups, projects, service desks and
// issues. Plain in-memory data with helpers; the HTTP routes read and change it.
import { SimWebhooks } from './webhooks.js';
import { DEFAULT_ROLE_NAMES } from './permissions.js';
import { commentsLockedBy, TRANSITIONS, type SimTransition } from './workflow.js';

export { GLOBAL_PERMISSIONS, PROJECT_PERMISSIONS } from './permissions.js';

export { RESOLUTIONS, STATUSES, TRANSITIONS, type SimStatus, type SimTransition } from './workflow.js';

export type SimAccountType = 'atlassian' | 'customer' | 'app';

export interface SimAccount {
  accountId: string;
  accountType: SimAccountType;
  /** Lower-cased; searchable even when hidden. */
  email?: string;
  /** Privacy setting: the email is left out of every response except /myself. */
  emailHidden: boolean;
  displayName: string;
  active: boolean;
  /** Global permissions such as ADMINISTER, USER_PICKER; project permissions here hold in every project. */
  permissions: Set<string>;
  /** Project permissions held in one project only (project key -> keys), e.g. ADMINISTER_PROJECTS of one service desk. */
  projectPermissions: Map<string, Set<string>>;
  siteAdmin: boolean;
  products: string[];
  /** Epoch ms the account was created through POST /user (undefined for seeded accounts). */
  createdAt?: number;
}

export interface SimToken {
  token: string;
  accountId: string;
  status: 'valid' | 'revoked' | 'expired';
  /** Epoch ms after which the token counts as expired. */
  expiresAt?: number;
  /** Requests the token still answers before it expires (counts down on each use). */
  remainingRequests?: number;
}

export interface SimGroup {
  groupId: string;
  name: string;
  members: Set<string>;
}

export interface SimProject {
  id: string;
  key: string;
  name: string;
  issueTypes: { id: string; name: string }[];
  nextNumber: number;
  /** Fields left off the project's create screen (e.g. "labels"): a create that sets one is a 400, as in Jira. */
  offCreateScreen?: string[];
  /** Who is in which project role here (role name -> accountIds); the roles themselves are the site's (SimState.roleNames). */
  roles: Map<string, Set<string>>;
}

export interface SimServiceDesk {
  id: string;
  projectKey: string;
  customers: Set<string>;
  requestTypes: Map<string, { id: string; name: string; issueTypeName: string }>;
}

export interface SimComment {
  id: string;
  authorId?: string;
  body: unknown;
  created: string;
  /** Restricted to a role or group (REST `visibility`): not public. */
  visibility?: { type: string; value?: string; identifier?: string };
  /** A JSM internal note (property `sd.public.comment` {internal: true}): `jsdPublic: false`. */
  internal?: boolean;
}

export interface SimAttachment {
  id: string;
  filename: string;
  mimeType: string;
  size: number;
  bytes: Buffer;
  authorId?: string;
  created: string;
  /** A fault: the content endpoint answers an endless body without Content-Length (`size` still says the stored size). */
  endless?: boolean;
}

export interface SimIssue {
  id: string;
  key: string;
  projectKey: string;
  fields: Record<string, unknown>;
  comments: SimComment[];
  attachments: SimAttachment[];
  properties: Map<string, unknown>;
  created: string;
  serviceDeskId?: string;
  requestTypeId?: string;
  /** When the write reached the search index's queue (state.clock()): JQL finds it indexLagMs later. */
  indexedAt?: number;
  /** Links to other issues (this issue is the outward side of each). */
  links?: SimIssueLink[];
}

export interface SimIssueLink {
  id: string;
  type: string;
  /** The issue this one links to (outward), e.g. "duplicates". */
  outwardIssueId: string;
}

/**
 * Jira's search index lags its writes ("a few seconds to minutes", docs/jira-simulator.md):
 * by default the simulator lags by this much. Tests set it (0, or minutes with a fast clock).
 */
export const DEFAULT_INDEX_LAG_MS = 2_000;

/** Issue link types every Jira Cloud site has (GET /rest/api/3/issueLinkType). */
export const LINK_TYPES = [
  { id: '10000', name: 'Blocks', inward: 'is blocked by', outward: 'blocks' },
  { id: '10001', name: 'Cloners', inward: 'is cloned by', outward: 'clones' },
  { id: '10002', name: 'Duplicate', inward: 'is duplicated by', outward: 'duplicates' },
  { id: '10003', name: 'Relates', inward: 'relates to', outward: 'relates to' },
];

/** The simulator's default propagation time for new accounts: on by default, short enough for tests that do not look at it. */
export const USER_PROPAGATION_DEFAULT_MS = 1_000;
/**
 * Jira Cloud's per-issue limits on comments and attachments: past them a comment or an upload is
 * answered 413 (docs/jira-simulator-limits-and-lag.md cites the sources). Tests lower them.
 */
export const ISSUE_LIMITS = { comments: 5_000, attachments: 2_000 };
export const KNOWN_PRODUCTS = ['jira-core', 'jira-servicedesk', 'jira-product-discovery', 'jira-software'];

/** A small seeded PRNG (mulberry32): the same seed gives the same ids and fault pattern. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class SimState {
  accounts = new Map<string, SimAccount>();
  tokens = new Map<string, SimToken>();
  groups = new Map<string, SimGroup>();
  projects = new Map<string, SimProject>();
  serviceDesks = new Map<string, SimServiceDesk>();
  issues = new Map<string, SimIssue>();
  /** Admin webhooks: where issue and comment events are sent (webhooks.ts). */
  webhooks = new SimWebhooks();
  /**
   * Issue property keys JQL can search. Empty by default: on Jira Cloud only an installed app
   * can have a property indexed, and an API-token client is not an app. 'all' models a site
   * where an app indexed every key (tests opt in).
   */
  indexedProperties: Set<string> | 'all';
  /** How long JQL search takes to see a write (DEFAULT_INDEX_LAG_MS unless set). */
  indexLagMs = 0;
  /**
   * The search index's clock (epoch ms). Injectable so a test of minutes of lag runs in
   * seconds: a clock that runs 100x fast makes a 40 s lag pass in 0.4 s.
   */
  clock: () => number = Date.now;
  /** Every attachment upload is answered 403 (attachments turned off for the site, or the scheme refuses them everywhere). */
  attachmentsRefused = false;
  /**
   * A new account is "user not found" to POST /group/user for this long after its creation, as
   * on organizations with centralized user management where accounts propagate to the site.
   */
  userPropagationMs = USER_PROPAGATION_DEFAULT_MS;
  /** Every project's workflow (TRANSITIONS unless a test changes it). */
  workflow: SimTransition[] = [...TRANSITIONS];
  /**
   * Workflow status properties by status name, as Jira keeps them on a workflow's statuses
   * (e.g. `{ 'jira.issue.editable': 'false' }` or `{ 'jira.permission.comment.denied': '' }` on
   * Closed). What each does here: docs/jira-simulator-workflow.md. Empty unless a test sets them.
   */
  statusProperties = new Map<string, Record<string, string>>();
  /**
   * The status Jira answers a refused comment with (POST /rest/api/3/issue/{key}/comment): 400,
   * the better-sourced answer (docs/jira-simulator-workflow.md); tests set 403 for the other.
   */
  commentRefusalStatus: 400 | 403 = 400;
  /** Comments and attachments one issue holds at most (ISSUE_LIMITS unless a test lowers them). */
  issueLimits = { ...ISSUE_LIMITS };
  /** The project roles the site defines (Jira's defaults, of a site with JSM); who is in them is per project. */
  roleNames = new Set(DEFAULT_ROLE_NAMES);
  private nextId = 10000;
  private rand: () => number;

  constructor(
    private seed = 1,
    private readonly indexedDefault: readonly string[] | 'all' = [],
  ) {
    this.rand = seededRandom(seed);
    this.indexedProperties = indexedDefault === 'all' ? 'all' : new Set(indexedDefault);
  }

  reset(): void {
    for (const m of [this.accounts, this.tokens, this.groups, this.projects, this.serviceDesks, this.issues]) m.clear();
    this.webhooks.clear();
    this.indexedProperties = this.indexedDefault === 'all' ? 'all' : new Set(this.indexedDefault);
    this.attachmentsRefused = false;
    this.userPropagationMs = USER_PROPAGATION_DEFAULT_MS;
    this.workflow = [...TRANSITIONS];
    this.statusProperties = new Map();
    this.commentRefusalStatus = 400;
    this.issueLimits = { ...ISSUE_LIMITS };
    this.roleNames = new Set(DEFAULT_ROLE_NAMES);
    this.nextId = 10000;
    this.rand = seededRandom(this.seed);
  }

  hex(n: number): string {
    let s = '';
    while (s.length < n) s += Math.floor(this.rand() * 16).toString(16);
    return s;
  }

  id(): string {
    return String(this.nextId++);
  }

  addAccount(a: {
    email?: string;
    displayName?: string;
    accountType?: SimAccountType;
    emailHidden?: boolean;
    active?: boolean;
    permissions?: string[];
    projectPermissions?: Record<string, string[]>;
    siteAdmin?: boolean;
    products?: string[];
    accountId?: string;
  }): SimAccount {
    const type = a.accountType ?? 'atlassian';
    const accountId =
      a.accountId ?? (type === 'customer' ? `qm:${this.hex(8)}-${this.hex(4)}-${this.hex(4)}-${this.hex(4)}-${this.hex(12)}:${this.hex(24)}` : this.hex(24));
    const email = a.email?.trim().toLowerCase();
    const account: SimAccount = {
      accountId,
      accountType: type,
      emailHidden: a.emailHidden ?? false,
      displayName: a.displayName ?? (email ? email.split('@')[0]! : accountId),
      active: a.active ?? true,
      permissions: new Set(a.permissions ?? []),
      projectPermissions: new Map(Object.entries(a.projectPermissions ?? {}).map(([k, v]) => [k, new Set(v)])),
      siteAdmin: a.siteAdmin ?? false,
      products: a.products ?? [],
    };
    if (email) account.email = email;
    this.accounts.set(accountId, account);
    return account;
  }

  accountsByEmail(email: string): SimAccount[] {
    const e = email.trim().toLowerCase();
    return [...this.accounts.values()].filter((a) => a.email === e);
  }

  /** Create an API token for an account; returns the token string. */
  addToken(t: { accountId: string; token?: string; expiresAt?: number; expiresAfterRequests?: number }): string {
    if (!this.accounts.has(t.accountId)) throw new Error(`no account ${t.accountId}`);
    const token = t.token ?? `ATATT3x${this.hex(40)}`;
    const entry: SimToken = { token, accountId: t.accountId, status: 'valid' };
    if (t.expiresAt !== undefined) entry.expiresAt = t.expiresAt;
    if (t.expiresAfterRequests !== undefined) entry.remainingRequests = t.expiresAfterRequests;
    this.tokens.set(token, entry);
    return token;
  }

  revokeToken(token: string): void {
    const t = this.tokens.get(token);
    if (t) t.status = 'revoked';
  }

  expireToken(token: string): void {
    const t = this.tokens.get(token);
    if (t) t.status = 'expired';
  }

  /** Make a working token expire mid-run: after `requests` more uses, and/or at time `at` (epoch ms). */
  expireTokenAfter(token: string, when: { requests?: number; at?: number }): void {
    const t = this.tokens.get(token);
    if (!t) throw new Error('no such token');
    if (when.requests !== undefined) t.remainingRequests = when.requests;
    if (when.at !== undefined) t.expiresAt = when.at;
  }

  addGroup(g: { name: string; groupId?: string }): SimGroup {
    const group: SimGroup = { groupId: g.groupId ?? `${this.hex(8)}-${this.hex(4)}-4${this.hex(3)}-8${this.hex(3)}-${this.hex(12)}`, name: g.name, members: new Set() };
    this.groups.set(group.groupId, group);
    return group;
  }

  group(ref: { groupId?: string; name?: string }): SimGroup | undefined {
    if (ref.groupId) return this.groups.get(ref.groupId);
    const name = ref.name?.toLowerCase();
    return [...this.groups.values()].find((g) => g.name.toLowerCase() === name);
  }

  addToGroup(ref: { groupId?: string; name?: string }, accountId: string): void {
    const g = this.group(ref);
    if (!g) throw new Error(`no group ${ref.groupId ?? ref.name}`);
    g.members.add(accountId);
  }

  groupMembers(ref: { groupId?: string; name?: string }): SimAccount[] {
    const g = this.group(ref);
    return g ? [...g.members].map((id) => this.accounts.get(id)).filter((a): a is SimAccount => !!a) : [];
  }

  addProject(p: { key: string; name?: string; id?: string; issueTypes?: string[] }): SimProject {
    const project: SimProject = {
      id: p.id ?? this.id(),
      key: p.key,
      name: p.name ?? p.key,
      issueTypes: (p.issueTypes ?? ['Task', 'Bug', 'Story']).map((name) => ({ id: this.id(), name })),
      nextNumber: 1,
      // Nobody is in a role until a seed or a test says so.
      roles: new Map(),
    };
    this.projects.set(project.key, project);
    return project;
  }

  /** Puts an account in a project role in one project (the role is defined on the site if it was not). */
  addToRole(projectKey: string, role: string, accountId: string): void {
    this.roleNames.add(role);
    const roles = this.projects.get(projectKey)!.roles;
    if (!roles.has(role)) roles.set(role, new Set());
    roles.get(role)!.add(accountId);
  }

  project(keyOrId: string): SimProject | undefined {
    return this.projects.get(keyOrId) ?? [...this.projects.values()].find((p) => p.id === keyOrId);
  }

  addServiceDesk(d: { id?: string; projectKey: string; projectName?: string; requestTypes?: { id: string; name: string }[] }): SimServiceDesk {
    if (!this.projects.has(d.projectKey)) this.addProject({ key: d.projectKey, name: d.projectName ?? d.projectKey, issueTypes: ['Service Request', 'Incident'] });
    const desk: SimServiceDesk = {
      id: d.id ?? String(this.serviceDesks.size + 1),
      projectKey: d.projectKey,
      customers: new Set(),
      requestTypes: new Map((d.requestTypes ?? [{ id: '10', name: 'Get IT help' }]).map((r) => [r.id, { ...r, issueTypeName: 'Service Request' }])),
    };
    this.serviceDesks.set(desk.id, desk);
    return desk;
  }

  /** A new issue in a project, numbered like Jira (KEY-1, KEY-2...). */
  createIssue(project: SimProject, fields: Record<string, unknown>, properties?: { key: string; value: unknown }[]): SimIssue {
    const issue: SimIssue = {
      id: this.id(),
      key: `${project.key}-${project.nextNumber++}`,
      projectKey: project.key,
      fields,
      comments: [],
      attachments: [],
      properties: new Map((properties ?? []).map((p) => [p.key, p.value])),
      created: new Date().toISOString(),
      indexedAt: this.clock(),
    };
    this.issues.set(issue.id, issue);
    return issue;
  }

  issue(idOrKey: string): SimIssue | undefined {
    const up = idOrKey.toUpperCase();
    return this.issues.get(idOrKey) ?? [...this.issues.values()].find((i) => i.key === up);
  }

  /** Whether the issue's status forbids new comments (its workflow properties: workflow.ts). */
  commentsLocked(issue: SimIssue): boolean {
    return commentsLockedBy(this.statusProperties.get((issue.fields.status as { name?: string } | undefined)?.name ?? ''));
  }

  /** Whether JQL search sees the issue yet (its create is older than the index lag). */
  searchable(issue: SimIssue): boolean {
    return issue.indexedAt === undefined || this.clock() - issue.indexedAt >= this.indexLagMs;
  }

  /** Every issue, oldest first. */
  allIssues(): SimIssue[] {
    return [...this.issues.values()];
  }
}
