// `mailroom config check --online`: what the configuration names, checked against Jira with the
// stored workaround token, each finding under the key path that names it. The offline check
// proves the YAML is well formed; this one catches `groups: [no-such-group]` before twenty
// mails fail at run time with Jira's "Specified group does not exist.".
//
// Checked: projects (deliver.project, notifications.rules[].project), issue types
// (deliver.issueType in its project), groups (policy.groups, notifications.rules[].groups),
// service desks (policy.serviceDeskId, deliver.serviceDeskId), request types
// (deliver.requestTypeId in its desk) and the token's permissions for the policies
// (src/token/check.ts, reused as it is).
import type { Config } from '../config/load.js';
import { AuthError, NotFoundError, RetryableError, describeError } from '../core/errors.js';
import type { JiraClient } from '../jira/client.js';
import type { FoundProject, FoundServiceDesk, GroupRef } from '../jira/types.js';
import { checkToken, type PermissionKey, type TokenCheckClient, type TokenReport } from '../token/check.js';

export type OnlineClient = Pick<JiraClient, 'getProject' | 'groupExists' | 'getServiceDesk' | 'getRequestType'> & TokenCheckClient;

export interface Finding {
  /** The configuration key that names the thing, e.g. mailboxes[0].policy.groups[1]. */
  path: string;
  ok: boolean;
  /** Missing things are errors; what may still work (advisory permissions) is a warning. */
  level: 'ok' | 'warning' | 'error';
  detail: string;
}

export interface OnlineReport {
  ok: boolean;
  findings: Finding[];
  token: TokenReport;
}

/** Jira did not answer (or answered 5xx) while checking: nothing can be concluded. */
export class JiraUnreachableError extends Error {}

type Lookup<T> = { found: T } | { missing: string };

/** A lookup's outcome: found, or a reason it is missing; Jira not answering aborts the check. */
async function lookup<T>(what: () => Promise<T>): Promise<Lookup<T>> {
  try {
    return { found: await what() };
  } catch (e) {
    if (e instanceof NotFoundError) return { missing: 'does not exist (or the token may not see it)' };
    if (e instanceof AuthError) return { missing: `the token may not see it: ${describeError(e)}` };
    if (e instanceof RetryableError) throw new JiraUnreachableError(describeError(e));
    return { missing: describeError(e) };
  }
}

function memo<T>(fn: (k: string) => Promise<T>): (k: string) => Promise<T> {
  const seen = new Map<string, Promise<T>>();
  return (k) => {
    let p = seen.get(k);
    if (!p) seen.set(k, (p = fn(k)));
    return p;
  };
}

type Cfg = Pick<Config, 'mailboxes' | 'notifications'>;

type Mailbox = Cfg['mailboxes'][number];

export async function checkConfigOnline(client: OnlineClient, config: Cfg, now = new Date()): Promise<OnlineReport> {
  const findings: Finding[] = [];
  const check = checker(client, findings);
  for (const [i, m] of config.mailboxes.entries()) await checkMailbox(check, `mailboxes[${i}]`, m);
  for (const [k, rule] of (config.notifications?.rules ?? []).entries()) {
    const at = `notifications.rules[${k}]`;
    await check.project(`${at}.project`, rule.project);
    for (const [j, name] of rule.groups.entries()) await check.group(`${at}.groups[${j}]`, { groupName: name });
  }
  const token = await checkToken(client, config.mailboxes, now);
  tokenFindings(token, config, findings);
  return { ok: findings.every((f) => f.level !== 'error'), findings, token };
}

type Checker = ReturnType<typeof checker>;

/** Checks of the things a configuration names, each looked up once, each adding its finding. */
function checker(client: OnlineClient, findings: Finding[]) {
  const ok = (path: string, detail: string) => findings.push({ path, ok: true, level: 'ok', detail });
  const bad = (path: string, detail: string) => findings.push({ path, ok: false, level: 'error', detail });

  const project = memo((key) => lookup<FoundProject>(() => client.getProject(key)));
  const desk = memo((id) => lookup<FoundServiceDesk>(() => client.getServiceDesk(id)));
  const group = memo(async (k) => {
    const ref = JSON.parse(k) as GroupRef;
    return lookup(async () => {
      if (!(await client.groupExists(ref))) throw new NotFoundError('no such group');
      return true;
    });
  });
  const groupLabel = (g: GroupRef) => (g.groupName !== undefined ? `group "${g.groupName}"` : `group with groupId ${g.groupId}`);

  return {
    ok,
    bad,
    client,
    async project(path: string, key: string): Promise<FoundProject | undefined> {
      const r = await project(key);
      if ('found' in r) ok(path, `project ${key} (${r.found.name}) exists`);
      else bad(path, `project ${key} ${r.missing}`);
      return 'found' in r ? r.found : undefined;
    },
    async group(path: string, g: GroupRef): Promise<void> {
      const r = await group(JSON.stringify(g));
      if ('found' in r) ok(path, `${groupLabel(g)} exists`);
      else bad(path, `${groupLabel(g)} ${r.missing === 'does not exist (or the token may not see it)' ? 'does not exist' : r.missing}`);
    },
    async desk(path: string, id: string): Promise<FoundServiceDesk | undefined> {
      const r = await desk(id);
      if ('found' in r) ok(path, `service desk ${id} (project ${r.found.projectKey}) exists`);
      else bad(path, `service desk ${id} ${r.missing}`);
      return 'found' in r ? r.found : undefined;
    },
  };
}

async function checkMailbox(check: Checker, at: string, m: Mailbox): Promise<void> {
  const d = m.deliver;
  if (d && 'issueType' in d) await checkIssueDelivery(check, at, d);
  else if (d) await checkRequestDelivery(check, at, d);
  const policy = m.policy;
  if (policy.autoCreate === 'user') {
    for (const [j, entry] of policy.groups.entries()) {
      const g = entry as { name?: string; groupId?: string };
      await check.group(`${at}.policy.groups[${j}]`, g.groupId ? { groupId: g.groupId } : { groupName: g.name });
    }
  }
  if (policy.autoCreate === 'customer' && policy.serviceDeskId) await check.desk(`${at}.policy.serviceDeskId`, policy.serviceDeskId);
}

type Deliver = NonNullable<Mailbox['deliver']>;

async function checkIssueDelivery(check: Checker, at: string, d: Extract<Deliver, { issueType: string }>): Promise<void> {
  const p = await check.project(`${at}.deliver.project`, d.project);
  if (!p) return;
  const t = p.issueTypes.find((x) => x.name.toLowerCase() === d.issueType.toLowerCase());
  if (t) check.ok(`${at}.deliver.issueType`, `issue type "${d.issueType}" exists in ${p.key}`);
  else check.bad(`${at}.deliver.issueType`, `project ${p.key} has no issue type "${d.issueType}" (it has: ${p.issueTypes.map((x) => x.name).join(', ') || 'none'})`);
}

async function checkRequestDelivery(check: Checker, at: string, d: Exclude<Deliver, { issueType: string }>): Promise<void> {
  const sd = await check.desk(`${at}.deliver.serviceDeskId`, d.serviceDeskId);
  if (!sd) return;
  const r = await lookup(() => check.client.getRequestType(d.serviceDeskId, d.requestTypeId));
  if ('found' in r) check.ok(`${at}.deliver.requestTypeId`, `request type ${d.requestTypeId} ("${r.found.name}") exists in service desk ${d.serviceDeskId}`);
  else check.bad(`${at}.deliver.requestTypeId`, `request type ${d.requestTypeId} ${r.missing} in service desk ${d.serviceDeskId}`);
  if (d.project !== undefined) {
    if (d.project === sd.projectKey) check.ok(`${at}.deliver.project`, `service desk ${sd.id} is project ${sd.projectKey}`);
    else check.bad(`${at}.deliver.project`, `service desk ${sd.id} is project ${sd.projectKey}, not ${d.project}`);
  }
}

/** The token's report as findings, under the key paths whose settings need each permission. */
function tokenFindings(token: TokenReport, config: Cfg, findings: Finding[]): void {
  if (token.error) {
    if (!token.authFailed && !token.account) throw new JiraUnreachableError(token.error);
    findings.push({ path: 'token', ok: false, level: 'error', detail: token.error });
  }
  for (const r of token.requirements) {
    if (r.held === undefined) continue;
    for (const path of permissionPaths(r.permission, config)) {
      if (r.held) findings.push({ path, ok: true, level: 'ok', detail: `${r.label}: held` });
      else findings.push({ path, ok: r.level !== 'required', level: r.level === 'required' ? 'error' : 'warning', detail: `${r.label} is not held (${r.why}); to grant: ${r.howToGrant}` });
    }
  }
  for (const w of token.warnings.filter((w) => !/ is not held /.test(w))) findings.push({ path: 'token', ok: true, level: 'warning', detail: w });
  projectFindings(token, findings);
}

/** Every permission delivery needs, per configured project, under the key that names the project. */
function projectFindings(token: TokenReport, findings: Finding[]): void {
  for (const p of token.projects) {
    const path = p.configKey;
    // A project that does not exist is named once, by its own check.
    const named = findings.some((f) => f.path === path && f.level === 'error');
    if (p.error && !named) findings.push({ path, ok: false, level: 'error', detail: `could not check the token's permissions in this project: ${p.error}` });
    const held = Object.entries(p.held).filter(([, v]) => v).map(([k]) => k);
    if (held.length) findings.push({ path, ok: true, level: 'ok', detail: `in project ${p.project}: held ${held.join(', ')}` });
    for (const k of p.missing) {
      findings.push({ path, ok: false, level: 'error', detail: `${k} is not held in project ${p.project}: delivery there fails; grant it to the workaround user in the project's permission scheme` });
    }
    for (const k of p.degraded) {
      const effect = k === 'MODIFY_REPORTER' ? "issues will be reported by the workaround user, the sender named in the text" : 'attachments will be refused and named in the issue instead';
      findings.push({ path, ok: true, level: 'warning', detail: `${k} is not held in project ${p.project}: ${effect}` });
    }
  }
}

/** Pure: the key paths whose settings need a permission (the token itself for lookups). */
export function permissionPaths(permission: PermissionKey, config: Pick<Config, 'mailboxes'>): string[] {
  const paths: string[] = [];
  config.mailboxes.forEach((m, i) => {
    const p = m.policy;
    if (permission === 'ADMINISTER' && p.autoCreate !== 'none') paths.push(`mailboxes[${i}].policy.autoCreate`);
    if (permission === 'SITE_ADMIN' && p.autoCreate === 'user') paths.push(p.groups.length ? `mailboxes[${i}].policy.groups` : `mailboxes[${i}].policy.autoCreate`);
    if (permission === 'ADMINISTER_PROJECTS' && p.autoCreate === 'customer') paths.push(`mailboxes[${i}].policy.serviceDeskId`);
  });
  return permission === 'USER_PICKER' || !paths.length ? ['token'] : paths;
}
