// A very small JQL: enough for what Mailroom asks (project, key, reporter, labels, summary ~,
// issue properties), joined by AND. Anything else is a 400, as an unknown field is in Jira.
import type { SimIssue } from './state.js';

const KNOWN_FIELDS = ['project', 'key', 'issuekey', 'reporter', 'labels', 'summary', 'text'];

export type Predicate = (issue: SimIssue) => boolean;

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

function fieldValue(issue: SimIssue, field: string): string[] {
  switch (field) {
    case 'project':
      return [issue.projectKey];
    case 'key':
    case 'issuekey':
      return [issue.key, issue.id];
    case 'reporter': {
      const r = issue.fields.reporter as { accountId?: string; id?: string } | undefined;
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

export function parseJql(jql: string): Predicate {
  const where = jql.replace(/\border\s+by\b[\s\S]*$/i, '').trim();
  if (!where) return () => true;
  const clauses = where.split(/\s+AND\s+/i).map((c) => {
    const prop = /^issue\.property\[([^\]]+)\](?:\.([\w.]+))?\s*(=|~)\s*(.+)$/i.exec(c.trim());
    if (prop) {
      const [, key, path, op, raw] = prop;
      const want = unquote(raw!);
      return (i: SimIssue) => {
        const v = propertyValue(i, unquote(key!), path);
        if (v === undefined || v === null) return false;
        return op === '=' ? String(v) === want : String(v).toLowerCase().includes(want.toLowerCase());
      };
    }
    const m = /^(\w+)\s*(=|!=|~|\bin\b)\s*(.+)$/i.exec(c.trim());
    if (!m) throw new JqlError(`Error in the JQL Query: cannot parse "${c.trim()}".`);
    const field = m[1]!.toLowerCase();
    const op = m[2]!.toLowerCase();
    const raw = m[3]!;
    if (!KNOWN_FIELDS.includes(field)) {
      throw new JqlError(`Error in the JQL Query: Field '${m[1]}' does not exist or you do not have permission to view it.`);
    }
    if (field === 'summary' || field === 'text') {
      if (op !== '~') throw new JqlError(`Error in the JQL Query: the operator '${op}' is not supported by the '${field}' field.`);
      const want = unquote(raw).toLowerCase();
      return (i: SimIssue) => String(i.fields.summary ?? '').toLowerCase().includes(want);
    }
    if (op === 'in') {
      const wants = list(raw).map((w) => w.toUpperCase());
      return (i: SimIssue) => fieldValue(i, field).some((v) => wants.includes(v.toUpperCase()));
    }
    if (op === '~') throw new JqlError(`Error in the JQL Query: the operator '~' is not supported by the '${field}' field.`);
    const want = unquote(raw).toUpperCase();
    const eq = (i: SimIssue) => fieldValue(i, field).some((v) => v.toUpperCase() === want);
    return op === '=' ? eq : (i: SimIssue) => !eq(i);
  });
  return (issue) => clauses.every((p) => p(issue));
}
