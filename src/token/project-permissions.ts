// What delivery needs in each configured project, asked of Jira with the project as context
// (GET /rest/api/3/mypermissions?projectKey=…&permissions=…): without a context Jira answers
// "held in any project", which says nothing about the one a mailbox delivers to. Permission
// schemes are per project on Jira Cloud, so one mailbox may deliver while another cannot.
//
// Each permission, what lacking it does to delivery (src/deliver/), and its level:
//   BROWSE_PROJECTS     nothing in the project can be read (404/403 on every call)    required
//   CREATE_ISSUES       no issue or request is made (403)                              required
//   EDIT_ISSUES         issue properties (the mailroom.message mark) are refused      required
//   ADD_COMMENTS        replies cannot join their issue (400 or 403)                   required
//   MODIFY_REPORTER     400 "Field 'reporter' cannot be set": delivered degraded,      advised
//                       reported by the token's account with the sender named
//   CREATE_ATTACHMENTS  uploads refused (403): the files are named in the issue       advised
//   SERVICEDESK_AGENT   (service desks) raising requests on behalf of customers        required
// Keys as the platform spec lists them for GET /mypermissions (shared/specs/jira-platform-v3.json).
import type { MailboxConfig } from '../config/schema.js';
import { AuthError, describeError } from '../core/errors.js';

export interface ProjectPermissionClient {
  myPermissions(keys: string[], context?: { projectKey?: string; projectId?: string }): Promise<Record<string, boolean>>;
  serviceDeskProject?(serviceDeskId: string): Promise<{ projectId: string; projectKey: string }>;
}

export const DELIVERY_PERMISSIONS = ['BROWSE_PROJECTS', 'CREATE_ISSUES', 'EDIT_ISSUES', 'ADD_COMMENTS', 'MODIFY_REPORTER', 'CREATE_ATTACHMENTS'] as const;
/** Missing these degrades delivery (the mail still becomes an issue): a warning, not a failure. */
const DEGRADES = new Set(['MODIFY_REPORTER', 'CREATE_ATTACHMENTS']);

export interface ProjectPermissions {
  mailboxId: string;
  /** The config key that points at the project (or desk). */
  configKey: string;
  /** The project asked about; undefined when it could not be found. */
  project?: string;
  /** Every permission asked, held or not. */
  held: Record<string, boolean>;
  /** Not held and delivery fails without it. */
  missing: string[];
  /** Not held and delivery degrades without it. */
  degraded: string[];
  /** The question could not be asked or was not answered. */
  error?: string;
}

type Mailbox = Pick<MailboxConfig, 'id' | 'deliver'>;

/** Where each mailbox delivers: its project (or desk), by config key. */
function targets(mailboxes: Mailbox[]): { mailboxId: string; configKey: string; project?: string; serviceDeskId?: string }[] {
  const out = [];
  for (const [i, m] of mailboxes.entries()) {
    const d = m.deliver;
    if (!d) continue;
    if ('serviceDeskId' in d) out.push({ mailboxId: m.id, configKey: `mailboxes[${i}].deliver.serviceDeskId`, serviceDeskId: d.serviceDeskId });
    else out.push({ mailboxId: m.id, configKey: `mailboxes[${i}].deliver.project`, project: d.project });
  }
  return out;
}

/** Asks Jira, per configured project, for every permission delivery needs. Auth failures propagate. */
export async function checkProjectPermissions(client: ProjectPermissionClient, mailboxes: Mailbox[]): Promise<ProjectPermissions[]> {
  const out: ProjectPermissions[] = [];
  for (const t of targets(mailboxes)) {
    const entry: ProjectPermissions = { mailboxId: t.mailboxId, configKey: t.configKey, held: {}, missing: [], degraded: [] };
    out.push(entry);
    try {
      let context: { projectKey?: string; projectId?: string } = { projectKey: t.project };
      if (t.serviceDeskId) {
        if (!client.serviceDeskProject) throw new Error("this client cannot look up a service desk's project");
        const p = await client.serviceDeskProject(t.serviceDeskId);
        context = { projectId: p.projectId, projectKey: p.projectKey };
      }
      entry.project = context.projectKey;
      const keys = [...DELIVERY_PERMISSIONS, ...(t.serviceDeskId ? ['SERVICEDESK_AGENT'] : [])];
      const seen = await client.myPermissions(keys, context);
      for (const k of keys) {
        entry.held[k] = seen[k] === true;
        if (seen[k] !== true) (DEGRADES.has(k) ? entry.degraded : entry.missing).push(k);
      }
    } catch (e) {
      if (e instanceof AuthError) throw e;
      entry.error = describeError(e);
    }
  }
  return out;
}

/** One line per problem, naming the permission, the project and the config key. */
export function projectProblems(list: ProjectPermissions[]): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const p of list) {
    const where = `project ${p.project ?? '?'} (${p.configKey}, mailbox "${p.mailboxId}")`;
    if (p.error) errors.push(`could not check the permissions in ${where}: ${p.error}`);
    for (const k of p.missing) errors.push(`${k} is not held in ${where}: delivery there fails; grant it in the project's permission scheme`);
    for (const k of p.degraded) {
      warnings.push(
        `${k} is not held in ${where}: ${k === 'MODIFY_REPORTER' ? "issues are reported by the token's account, the sender named in the text" : 'attachments are refused and named in the issue instead'}`,
      );
    }
  }
  return { errors, warnings };
}

/** Lines for a person: every permission, held or missing, per project. */
export function formatProjectPermissions(list: ProjectPermissions[]): string[] {
  const lines: string[] = [];
  for (const p of list) {
    lines.push(`project ${p.project ?? '?'} (${p.configKey}, mailbox "${p.mailboxId}"):`);
    if (p.error) lines.push(`  COULD NOT CHECK: ${p.error}`);
    for (const [k, v] of Object.entries(p.held)) lines.push(`  ${v ? 'yes' : DEGRADES.has(k) ? 'no ' : 'NO '}  ${k}${v ? '' : DEGRADES.has(k) ? ' (delivers degraded)' : ' (MISSING)'}`);
  }
  return lines;
}
