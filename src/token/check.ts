// The live check of the workaround token: who it is (/myself) and what it may do
// (/mypermissions), against what the configured policies need. The report names every missing
// permission and how to grant it, so a config that auto-creates users into groups with a token
// that cannot do it is caught at start, not at the first mail.
//
// What each policy needs (from the Jira Cloud platform and JSM OpenAPI specs in shared/specs):
//   every install        USER_PICKER  "Browse users and groups": GET /user/search finds nobody without it
//   autoCreate: user     ADMINISTER   POST /rest/api/3/user: "Administer Jira global permission"
//     with groups        SITE_ADMIN   POST /rest/api/3/group/user: "Site administration (member of the site-admin group)"
//   autoCreate: customer ADMINISTER   POST /rest/servicedeskapi/customer: "Jira Administrator Global permission"
//                        ADMINISTER_PROJECTS  POST .../servicedesk/{id}/customer: "Service desk administrator"
// SITE_ADMIN: Jira's docs name the requirement "member of the site-admin group" and the spec
// has no "am I a site admin" call. Two readings are asked and either one is enough: the
// `site-admins` group in /myself?expand=groups (where the site still manages admins by group),
// and the SYSTEM_ADMIN global permission (which /mypermissions reports for site admins,
// including sites whose admins hold the role through admin.atlassian.com rather than a group).
// ADMINISTER_PROJECTS is asked with the service desk's project as context (the desk's project
// comes from GET /servicedeskapi/servicedesk/{id}): without a context Jira answers "in any project".
// A requirement that could not be checked is neither held nor missing: the report is not ok.
import type { MailboxConfig } from '../config/schema.js';
import { AuthError, describeError } from '../core/errors.js';
import { inline, LINE_END_MAX } from '../core/terminal-text.js';
import type { Myself } from '../jira/types.js';
import { checkProjectPermissions, formatProjectPermissions, projectProblems, type ProjectPermissions } from './project-permissions.js';
import type { TokenCheckRecord } from './store.js';

export interface TokenCheckClient {
  myself(): Promise<Myself>;
  myPermissions(keys: string[], context?: { projectKey?: string; projectId?: string }): Promise<Record<string, boolean>>;
  /** Group names of the token's account (/myself?expand=groups). */
  myGroups?(): Promise<string[]>;
  /** The project behind a service desk. */
  serviceDeskProject?(serviceDeskId: string): Promise<{ projectId: string; projectKey: string }>;
}

/** The group whose members are site administrators on Jira Cloud. */
export const SITE_ADMINS_GROUP = 'site-admins';

export type PermissionKey = 'USER_PICKER' | 'ADMINISTER' | 'SITE_ADMIN' | 'ADMINISTER_PROJECTS';

export interface Requirement {
  permission: PermissionKey;
  /** The name Jira's admin screens use. */
  label: string;
  /** Which configuration asks for it. */
  why: string;
  howToGrant: string;
  /** Missing it is an error (the policy will fail) or only a warning (it may fail). */
  level: 'required' | 'advised';
}

const LABEL: Record<PermissionKey, string> = {
  USER_PICKER: 'Browse users and groups (global permission USER_PICKER)',
  ADMINISTER: 'Administer Jira (global permission ADMINISTER)',
  SITE_ADMIN: 'Site administration (site-admins group)',
  ADMINISTER_PROJECTS: 'Service desk administrator (project permission ADMINISTER_PROJECTS)',
};

const HOW: Record<PermissionKey, string> = {
  USER_PICKER: 'Jira settings > System > Global permissions > "Browse users and groups": add a group the account is in',
  ADMINISTER: 'Jira settings > System > Global permissions > "Administer Jira": add a group the account is in (e.g. jira-admins-<site>)',
  SITE_ADMIN: 'admin.atlassian.com > Directory > Groups > site-admins: add the account (or Products > give it the Admin role on this site)',
  ADMINISTER_PROJECTS: 'Service project > Project settings > People: give the account the Administrators role',
};

/** Pure: what the configured mailboxes' policies need of the token. */
export function requirementsFor(mailboxes: Pick<MailboxConfig, 'id' | 'policy'>[]): Requirement[] {
  const out = new Map<PermissionKey, Requirement>();
  const add = (permission: PermissionKey, why: string, level: Requirement['level'] = 'required') => {
    const prev = out.get(permission);
    if (prev) {
      if (!prev.why.includes(why)) prev.why += `; ${why}`;
      if (level === 'required') prev.level = 'required';
      return;
    }
    out.set(permission, { permission, label: LABEL[permission], why, howToGrant: HOW[permission], level });
  };
  add('USER_PICKER', 'looking up senders by email (without it Jira finds nobody and every sender looks new)');
  for (const m of mailboxes) {
    const p = m.policy;
    if (p.autoCreate === 'user') {
      add('ADMINISTER', `mailbox "${m.id}" creates Jira users (autoCreate: user)`);
      if (p.groups.length > 0) add('SITE_ADMIN', `mailbox "${m.id}" adds created users to groups`);
      else add('SITE_ADMIN', `mailbox "${m.id}" creates users: Jira may treat user management as a site-admin task`, 'advised');
    } else if (p.autoCreate === 'customer') {
      add('ADMINISTER', `mailbox "${m.id}" creates JSM customers (autoCreate: customer)`);
      add('ADMINISTER_PROJECTS', `mailbox "${m.id}" adds customers to service desk ${p.serviceDeskId ?? '?'}`);
    }
  }
  return [...out.values()];
}

/** The permission keys /mypermissions is asked for (SITE_ADMIN is read through SYSTEM_ADMIN). */
const ALWAYS_ASKED = ['USER_PICKER', 'ADMINISTER', 'SYSTEM_ADMIN'];

export interface TokenReport {
  ok: boolean;
  checkedAt: string;
  account?: Myself;
  /** /myself failed: the token does not work at all. */
  error?: string;
  authFailed: boolean;
  /** What was seen: USER_PICKER, ADMINISTER, SITE_ADMIN, ADMINISTER_PROJECTS (when asked). */
  permissions: Partial<Record<PermissionKey, boolean>>;
  requirements: (Requirement & { held: boolean | undefined })[];
  /** Required and not held. */
  missing: Requirement[];
  /** Required and not checkable (Jira did not answer the question): "label: why". */
  unchecked: string[];
  warnings: string[];
  /** Per configured project (and desk): every permission delivery needs, held or missing. */
  projects: ProjectPermissions[];
  /** Project permissions delivery fails without, or could not check: one line each, naming project and config key. */
  projectMissing: string[];
}

type CheckedMailbox = Pick<MailboxConfig, 'id' | 'policy'> & Partial<Pick<MailboxConfig, 'deliver'>>;

export async function checkToken(client: TokenCheckClient, mailboxes: CheckedMailbox[], now = new Date()): Promise<TokenReport> {
  const requirements = requirementsFor(mailboxes);
  const base = { checkedAt: now.toISOString(), permissions: {}, warnings: [] as string[], projects: [], projectMissing: [] };
  let account: Myself;
  try {
    account = await client.myself();
  } catch (e) {
    const auth = e instanceof AuthError;
    return {
      ...base,
      ok: false,
      authFailed: auth,
      error: auth ? `Jira refused the token (${describeError(e)}): it is wrong, expired or revoked` : `could not check the token: ${describeError(e)}`,
      requirements: requirements.map((r) => ({ ...r, held: undefined })),
      missing: [],
      unchecked: [],
    };
  }
  const warnings: string[] = [];
  const permissions: TokenReport['permissions'] = {};
  try {
    const seen = await client.myPermissions(ALWAYS_ASKED);
    permissions.USER_PICKER = seen.USER_PICKER === true;
    permissions.ADMINISTER = seen.ADMINISTER === true;
    permissions.SITE_ADMIN = seen.SYSTEM_ADMIN === true;
  } catch (e) {
    const auth = e instanceof AuthError;
    return {
      ...base,
      ok: false,
      account,
      authFailed: auth,
      error: `${auth ? 'Jira refused the token' : 'could not read the permissions'} on /mypermissions: ${describeError(e)}`,
      requirements: requirements.map((r) => ({ ...r, held: undefined })),
      missing: [],
      unchecked: [],
    };
  }
  const why: Unanswered = {};
  await readSiteAdmin(client, requirements, permissions, why);
  await readDeskAdmin(client, mailboxes, requirements, permissions, why);
  if (!account.active) warnings.push(`the account ${account.displayName} is deactivated: Jira will refuse its token`);
  const projects = await checkProjectPermissions(client, mailboxes);
  const { errors: projectMissing, warnings: projectWarnings } = projectProblems(projects);
  warnings.push(...projectWarnings);
  const reqs = requirements.map((r) => ({ ...r, held: permissions[r.permission] }));
  const missing = reqs.filter((r) => r.held === false && r.level === 'required');
  const unchecked = reqs.filter((r) => r.held === undefined && r.level === 'required').map((r) => `${r.label}: ${why[r.permission] ?? 'not answered'}`);
  for (const r of reqs) if (r.held === false && r.level === 'advised') warnings.push(`${r.label} is not held (${r.why}); to grant: ${r.howToGrant}`);
  for (const r of reqs) if (r.held === undefined && r.level === 'advised') warnings.push(`could not check ${r.label}: ${why[r.permission] ?? 'not answered'}`);
  return {
    ...base,
    ok: account.active && missing.length === 0 && unchecked.length === 0 && projectMissing.length === 0,
    authFailed: false,
    account,
    permissions,
    requirements: reqs,
    missing,
    unchecked,
    warnings,
    projects,
    projectMissing,
  };
}

/** Why a permission could not be read, by permission. */
type Unanswered = Partial<Record<PermissionKey, string>>;

/** SITE_ADMIN not seen through SYSTEM_ADMIN: look for the site-admins group (see the top of this file). */
async function readSiteAdmin(client: TokenCheckClient, requirements: Requirement[], permissions: TokenReport['permissions'], why: Unanswered): Promise<void> {
  if (!(requirements.some((r) => r.permission === 'SITE_ADMIN') && !permissions.SITE_ADMIN && client.myGroups)) return;
  try {
    permissions.SITE_ADMIN = (await client.myGroups()).some((g) => g.toLowerCase() === SITE_ADMINS_GROUP);
  } catch (e) {
    if (e instanceof AuthError) throw e;
    delete permissions.SITE_ADMIN;
    why.SITE_ADMIN = `SYSTEM_ADMIN is not held and the account's groups could not be read (${describeError(e)})`;
  }
}

/** ADMINISTER_PROJECTS, asked in each configured service desk's project: held only if held in all. */
async function readDeskAdmin(
  client: TokenCheckClient,
  mailboxes: Pick<MailboxConfig, 'id' | 'policy'>[],
  requirements: Requirement[],
  permissions: TokenReport['permissions'],
  why: Unanswered,
): Promise<void> {
  const desks = [...new Set(mailboxes.filter((m) => m.policy.autoCreate === 'customer' && m.policy.serviceDeskId).map((m) => m.policy.serviceDeskId!))];
  if (!requirements.some((r) => r.permission === 'ADMINISTER_PROJECTS')) return;
  try {
    if (!client.serviceDeskProject) throw new Error('this client cannot look up a service desk\'s project');
    if (!desks.length) throw new Error('no serviceDeskId is configured');
    let held = true;
    for (const desk of desks) {
      const project = await client.serviceDeskProject(desk);
      held &&= (await client.myPermissions(['ADMINISTER_PROJECTS'], { projectId: project.projectId, projectKey: project.projectKey })).ADMINISTER_PROJECTS === true;
    }
    permissions.ADMINISTER_PROJECTS = held;
  } catch (e) {
    if (e instanceof AuthError) throw e;
    why.ADMINISTER_PROJECTS = `Jira did not answer for service desk ${desks.join(', ') || '?'}: ${describeError(e)}`;
  }
}

/** One line for logs and the stored "last check". */
export function summarize(r: TokenReport): string {
  if (r.error) return r.error;
  if (r.account && !r.account.active) return `the account ${r.account.displayName} is deactivated`;
  if (r.missing.length || r.projectMissing.length) return `missing: ${[...r.missing.map((m) => m.label), ...r.projectMissing].join('; ')}`;
  if (r.unchecked.length) return `could not check: ${r.unchecked.join('; ')}`;
  return r.warnings.length ? `ok, with warnings: ${r.warnings.join('; ')}` : 'ok';
}

/** The report as stored beside the token (no secrets in it). */
export function checkRecord(r: TokenReport): TokenCheckRecord {
  return {
    at: r.checkedAt,
    ok: r.ok,
    summary: summarize(r).slice(0, 1000),
    permissions: {
      ...(Object.fromEntries(Object.entries(r.permissions).filter(([, v]) => v !== undefined)) as Record<string, boolean>),
      // Per project as "PROJECT:PERMISSION", so status and /readyz can name what a project lacks.
      ...Object.fromEntries(r.projects.flatMap((p) => Object.entries(p.held).map(([k, v]) => [`${p.project ?? p.configKey}:${k}`, v]))),
    },
  };
}

/** Lines for a person: the account, what it can do, what is missing and how to grant it. */
export function formatReport(r: TokenReport): string[] {
  const lines: string[] = [];
  // Jira's answers (names, error text) as one line each: the lines are printed as they are.
  if (r.account) lines.push(`account:     ${inline(r.account.displayName)} (${inline(r.account.emailAddress ?? 'email hidden')}, ${inline(r.account.accountId)})${r.account.active ? '' : ' DEACTIVATED'}`);
  if (r.error) lines.push(`problem:     ${inline(r.error, LINE_END_MAX)}`);
  const seen = Object.entries(r.permissions) as [PermissionKey, boolean][];
  if (seen.length) {
    lines.push('can do:');
    for (const [k, v] of seen) lines.push(`  ${v ? 'yes' : 'no '}  ${LABEL[k]}`);
  }
  for (const m of r.missing) {
    lines.push(`MISSING: ${m.label}`);
    lines.push(`  needed for: ${m.why}`);
    lines.push(`  to grant:   ${m.howToGrant}`);
  }
  lines.push(...formatProjectPermissions(r.projects));
  for (const p of r.projectMissing) lines.push(`MISSING: ${p}`);
  for (const u of r.unchecked) lines.push(`COULD NOT CHECK: ${u}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  lines.push(r.ok ? 'result:      ok' : r.unchecked.length && !r.missing.length && !r.projectMissing.length && !r.error ? 'result:      NOT OK (not everything could be checked: see the README, "token check")' : 'result:      NOT OK');
  return lines;
}
