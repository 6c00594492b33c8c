// A very small JQL: enough for what Mailroom asks (project, key, reporter, creator, created,
// labels, summary ~, currentUser(), and issue properties where an app has indexed them), joined
// by AND. Anything else is a 400, as an unknown field is in Jira.
//
// Issue properties: on Jira Cloud an entity property is a JQL field only when an installed
// Connect or Forge app declares it for indexing (`jiraEntityProperties` / `jira:entityProperty`).
// An API-token client cannot do that, so by default no property is searchable here either, and
// a clause on one gets Jira's "does not exist" message. Tests that want the indexed world opt in.
import type { SimIssue } from './state.js';

const KNOWN_FIELDS = ['project', 'key', 'issuekey', 'reporter', 'creator', 'labels', 'summary', 'text', 'created', 'createddate'];

export type Predicate = (issue: SimIssue) => boolean;

export interface JqlOptions {
  /** Property keys an app has indexed ('all': every one). Default: none, as for an API-token client. */
  indexed?: ReadonlySet<string> | 'all';
  /** The account currentUser() stands for. */
  currentUser?: string;
  /** Epoch ms relative dates ("-15m") count back from. */
  now?: number;
  /** Whether the caller sees a project named in a `project` clause (Jira: a 400 for one it cannot browse, as for one that does not exist). */
  projectVisible?: (keyOrId: string) => boolean;
}

export class JqlError extends Error {}

function unquote(v: string): string {
  const t = v.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) {
    return t.slice(1, -1).replace(/\\(["'\\])/g, '$1');
  }
  return t;
}

function list(v: string): string[] {
  const m = /^\((.*)\)$/.exec(v.trim());
  if (!m) throw new JqlError(`Error in the JQL Query: expected a list in parentheses, got ${v}`);
  return m[1]!.split(',').map(unquote);
}

/** Split on AND outside quotes (a quoted summary may hold " and "). */
function clausesOf(where: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = '';
  for (let i = 0; i < where.length; i++) {
    const ch = where[i]!;
    if (quote) {
      cur += ch;
      if (ch === '\\' && i + 1 < where.length) cur += where[++i];
      else if (ch === quote) quote = '';
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      cur += ch;
      continue;
    }
    const m = /^\s+AND\s+/i.exec(where.slice(i));
    if (m) {
      out.push(cur);
      cur = '';
      i += m[0].length - 1;
      continue;
    }
    cur += ch;
  }
  if (quote) throw new JqlError('Error in the JQL Query: a quoted string is not closed.');
  out.push(cur);
  return out.map((c) => c.trim());
}

function fieldValue(issue: SimIssue, field: string): string[] {
  switch (field) {
    case 'project':
      return [issue.projectKey];
    case 'key':
    case 'issuekey':
      return [issue.key, issue.id];
    case 'reporter':
    case 'creator': {
      const r = issue.fields[field] as { accountId?: string; id?: string } | undefined;
      return [r?.accountId ?? r?.id ?? ''];
    }
    case 'labels':
      return Array.isArray(issue.fields.labels) ? issue.fields.labels.map(String) : [];
    default:
      throw new JqlError(`Error in the JQL Query: Field '${field}' does not exist or you do not have permission to view it.`);
  }
}

function propertyValue(issue: SimIssue, key: string, path: string | undefined): unknown {
  let v: unknown = issue.properties.get(key);
  for (const part of path ? path.split('.') : []) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

const UNIT_MS: Record<string, number> = { w: 7 * 86_400_000, d: 86_400_000, h: 3_600_000, m: 60_000 };

/** A JQL date value: relative ("-15m", "-1d 2h") or absolute ("yyyy/MM/dd HH:mm", "yyyy-MM-dd"), in UTC (the simulated accounts' time zone). */
function dateValue(raw: string, now: number): number {
  const v = unquote(raw).trim();
  const rel = /^([-+])?((?:\s*\d+\s*[wdhm])+)$/i.exec(v);
  if (rel) {
    let ms = 0;
    for (const m of rel[2]!.matchAll(/(\d+)\s*([wdhm])/gi)) ms += Number(m[1]) * UNIT_MS[m[2]!.toLowerCase()]!;
    return rel[1] === '+' ? now + ms : now - ms;
  }
  const abs = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?$/.exec(v);
  if (abs) return Date.UTC(Number(abs[1]), Number(abs[2]) - 1, Number(abs[3]), Number(abs[4] ?? 0), Number(abs[5] ?? 0));
  throw new JqlError(
    `Error in the JQL Query: Date value '${v}' for field 'created' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.`,
  );
}

export function parseJql(jql: string, opts: JqlOptions = {}): Predicate {
  const where = jql.replace(/\border\s+by\b[\s\S]*$/i, '').trim();
  if (!where) return () => true;
  const now = opts.now ?? Date.now();
  const clauses = clausesOf(where).map((c) => {
    const prop = /^issue\.property\[([^\]]+)\](?:\.([\w.]+))?\s*(=|~)\s*(.+)$/i.exec(c);
    if (prop) {
      const [, rawKey, path, op, raw] = prop;
      const key = unquote(rawKey!);
      const indexed = opts.indexed === 'all' || opts.indexed?.has(key) === true;
      if (!indexed) {
        throw new JqlError(`Field 'issue.property[${key}]${path ? `.${path}` : ''}' does not exist or you do not have permission to view it.`);
      }
      const want = unquote(raw!);
      return (i: SimIssue) => {
        const v = propertyValue(i, key, path);
        if (v === undefined || v === null) return false;
        return op === '=' ? String(v) === want : String(v).toLowerCase().includes(want.toLowerCase());
      };
    }
    const m = /^(\w+)\s*(>=|<=|!=|=|>|<|~|\bin\b)\s*(.+)$/i.exec(c);
    if (!m) throw new JqlError(`Error in the JQL Query: cannot parse "${c}".`);
    const field = m[1]!.toLowerCase();
    const op = m[2]!.toLowerCase();
    const raw = m[3]!.trim();
    if (!KNOWN_FIELDS.includes(field)) {
      throw new JqlError(`Error in the JQL Query: Field '${m[1]}' does not exist or you do not have permission to view it.`);
    }
    if (field === 'created' || field === 'createddate') {
      const at = dateValue(raw, now);
      const cmp = { '>=': (t: number) => t >= at, '>': (t: number) => t > at, '<=': (t: number) => t <= at, '<': (t: number) => t < at, '=': (t: number) => t === at }[op];
      if (!cmp) throw new JqlError(`Error in the JQL Query: the operator '${op}' is not supported by the 'created' field.`);
      return (i: SimIssue) => cmp(Date.parse(i.created));
    }
    if (['>=', '<=', '>', '<'].includes(op)) throw new JqlError(`Error in the JQL Query: the operator '${op}' is not supported by the '${field}' field.`);
    if (field === 'summary' || field === 'text') {
      if (op !== '~') throw new JqlError(`Error in the JQL Query: the operator '${op}' is not supported by the '${field}' field.`);
      const want = unquote(raw).toLowerCase();
      return (i: SimIssue) => String(i.fields.summary ?? '').toLowerCase().includes(want);
    }
    if (field === 'project' && opts.projectVisible && (op === '=' || op === 'in')) {
      const missing = (op === 'in' ? list(raw) : [unquote(raw)]).find((v) => !opts.projectVisible!(v));
      if (missing !== undefined) throw new JqlError(`The value '${missing}' does not exist for the field 'project'.`);
    }
    if (op === 'in') {
      const wants = list(raw).map((w) => w.toUpperCase());
      return (i: SimIssue) => fieldValue(i, field).some((v) => wants.includes(v.toUpperCase()));
    }
    if (op === '~') throw new JqlError(`Error in the JQL Query: the operator '~' is not supported by the '${field}' field.`);
    let wantRaw = unquote(raw);
    if (/^currentUser\(\s*\)$/i.test(raw)) {
      if ((field !== 'reporter' && field !== 'creator') || !opts.currentUser) {
        throw new JqlError(`Error in the JQL Query: the function 'currentUser' is not valid here.`);
      }
      wantRaw = opts.currentUser;
    }
    const want = wantRaw.toUpperCase();
    const eq = (i: SimIssue) => fieldValue(i, field).some((v) => v.toUpperCase() === want);
    return op === '=' ? eq : (i: SimIssue) => !eq(i);
  });
  return (issue) => clauses.every((p) => p(issue));
}
