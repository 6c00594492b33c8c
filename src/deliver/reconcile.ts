// The reconcile pass: finds mails that became two open issues and resolves the newer ones.
// Delivery looks for a lost create's issue for RECOVERY_WINDOW_MS (create.ts) before creating
// again; when Jira's search lags longer than that, a mail can become two issues. This pass
// reads the recent issues of each configured project with their `mailroom.message` property
// (search results carry the properties asked for, though JQL cannot search them), groups them
// by the mail they were made from, keeps the oldest open one, and resolves each other open one:
// a "Duplicate" link to the kept issue, a comment saying why, a transition to a done status
// (resolution Duplicate when the transition's screen offers it), and the ledger pointed at the
// kept issue so replies join it. Runs in the deliverer role every RECONCILE_EVERY_MS under a
// Redis lock (one pass at a time across copies); docs/jira-index-lag.md.
import { randomBytes } from 'node:crypto';
import { PermanentError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { key, type Redis } from '../core/redis.js';
import type { JiraClient } from '../jira/client.js';
import type { FoundIssue } from '../jira/types.js';
import { ledgerKey, type LedgerEntry } from '../ledger/ledger.js';
import { textToAdf } from './adf.js';
import { MESSAGE_PROPERTY } from './properties.js';

/** Set on an issue this pass resolved as a duplicate (its link and comment are made). */
export const RECONCILED_PROPERTY = 'mailroom.reconciled';
/** How often the deliverer role runs the pass: duplicates are rare, and the pass costs a search per project page. */
export const RECONCILE_EVERY_MS = 10 * 60_000;
/** How far back a pass looks: far beyond any index lag Atlassian describes ("seconds to minutes"). */
export const RECONCILE_LOOKBACK_MS = 2 * 24 * 3600_000;
// At most this many issues are read per project and pass (50 pages): a bound, not a target.
const RECONCILE_MAX = 5_000;
// A pass holds the lock this long at most; a dead holder frees it by then.
const LOCK_MS = 10 * 60_000;

export type ReconcileClient = Pick<JiraClient, 'searchJql' | 'linkIssues' | 'getTransitions' | 'transitionIssue' | 'addComment' | 'setIssueProperty'>;

export interface ReconcileDeps {
  redis: Redis;
  prefix: string;
  client: ReconcileClient;
  /** The project keys mail is delivered to. */
  projects: string[];
  lookbackMs?: number;
  log?: Logger;
  /** Report what would be done, change nothing. */
  dryRun?: boolean;
}

export interface ReconcileFinding {
  mail: string;
  kept: string;
  resolved: string[];
  /** Duplicates left open, and why (no transition to a done status, a refusal). */
  left: { key: string; why: string }[];
}

export interface ReconcileReport {
  /** False when another pass held the lock (nothing was done). */
  ran: boolean;
  scanned: number;
  findings: ReconcileFinding[];
  /** Projects whose search Jira refused (400 "The value 'X' does not exist for the field 'project'": gone, renamed, or no Browse projects): the others are still reconciled. */
  skipped: { project: string; why: string }[];
}

type MessageProperty = { id?: unknown; sha256?: unknown };

function jqlString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function isOpen(i: FoundIssue): boolean {
  const f = i.fields as { resolution?: unknown; status?: { statusCategory?: { key?: unknown } } };
  return !f.resolution && f.status?.statusCategory?.key !== 'done';
}

/** Oldest first: by created, then by id (Jira's ids grow). */
function byAge(a: FoundIssue, b: FoundIssue): number {
  const d = Date.parse(String(a.fields.created ?? '')) - Date.parse(String(b.fields.created ?? ''));
  return d !== 0 && !Number.isNaN(d) ? d : Number(a.id) - Number(b.id);
}

/** Issues made from the same mail (same identity and content), oldest first, when more than one is open. */
export function duplicateGroups(issues: FoundIssue[]): { mail: string; issues: FoundIssue[] }[] {
  const groups = new Map<string, FoundIssue[]>();
  for (const i of issues) {
    const p = i.properties?.[MESSAGE_PROPERTY] as MessageProperty | undefined;
    if (typeof p?.id !== 'string' || !p.id) continue;
    const k = `${p.id}\u0000${typeof p.sha256 === 'string' ? p.sha256 : ''}`;
    groups.set(k, [...(groups.get(k) ?? []), i]);
  }
  return [...groups.entries()]
    .map(([k, list]) => ({ mail: k.split('\u0000')[0]!, issues: list.sort(byAge) }))
    .filter((g) => g.issues.filter(isOpen).length > 1);
}

async function withLock<T>(redis: Redis, prefix: string, run: () => Promise<T>): Promise<T | undefined> {
  const k = key(prefix, 'deliver', 'reconcile', 'lock');
  const me = randomBytes(8).toString('hex');
  if ((await redis.set(k, me, 'PX', LOCK_MS, 'NX')) !== 'OK') return undefined;
  try {
    return await run();
  } finally {
    await redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", 1, k, me).catch(() => undefined);
  }
}

export async function reconcilePass(deps: ReconcileDeps): Promise<ReconcileReport> {
  const report = await withLock(deps.redis, deps.prefix, async () => {
    const minutes = Math.ceil((deps.lookbackMs ?? RECONCILE_LOOKBACK_MS) / 60_000);
    const out: ReconcileReport = { ran: true, scanned: 0, findings: [], skipped: [] };
    for (const project of [...new Set(deps.projects)]) {
      let issues: FoundIssue[];
      try {
        issues = await deps.client.searchJql(`project = ${jqlString(project)} AND created >= -${minutes}m ORDER BY created ASC`, ['summary', 'created', 'status', 'resolution'], {
          max: RECONCILE_MAX,
          properties: [MESSAGE_PROPERTY, RECONCILED_PROPERTY],
        });
      } catch (e) {
        // One project's refusal is that project's: the others are still reconciled.
        if (!(e instanceof PermanentError)) throw e;
        out.skipped.push({ project, why: e.message });
        deps.log?.warn({ project, err: e.message }, 'reconcile: Jira refused the search of this project; skipped');
        continue;
      }
      out.scanned += issues.length;
      for (const g of duplicateGroups(issues)) out.findings.push(await resolveGroup(deps, g));
    }
    return out;
  });
  return report ?? { ran: false, scanned: 0, findings: [], skipped: [] };
}

async function resolveGroup(deps: ReconcileDeps, g: { mail: string; issues: FoundIssue[] }): Promise<ReconcileFinding> {
  const open = g.issues.filter(isOpen);
  const kept = open[0]!;
  const finding: ReconcileFinding = { mail: g.mail, kept: kept.key, resolved: [], left: [] };
  for (const dup of open.slice(1)) {
    if (deps.dryRun) {
      finding.resolved.push(dup.key);
      continue;
    }
    try {
      const why = await resolveDuplicate(deps.client, g.mail, kept, dup);
      if (why) finding.left.push({ key: dup.key, why });
      else finding.resolved.push(dup.key);
    } catch (e) {
      finding.left.push({ key: dup.key, why: (e as Error).message });
    }
  }
  if (!deps.dryRun) await pointLedger(deps, g.mail, kept, open.slice(1).map((i) => i.key));
  deps.log?.warn({ mail: g.mail, kept: kept.key, resolved: finding.resolved, left: finding.left }, 'one mail had become several open issues: resolved the newer ones as duplicates');
  return finding;
}

/** Link, comment, mark, then close `dup`; returns why it stays open, if it does. */
async function resolveDuplicate(client: ReconcileClient, mail: string, kept: FoundIssue, dup: FoundIssue): Promise<string | undefined> {
  // The link and comment once: a pass that stopped after them (the mark is set) only closes.
  if (!dup.properties?.[RECONCILED_PROPERTY]) {
    await client.linkIssues(dup.key, 'Duplicate', kept.key);
    const text =
      `Mailroom made this issue and ${kept.key} from the same mail (${mail}): Jira's search had not yet shown ${kept.key} ` +
      `when delivery looked for it after a create whose answer was lost. This one is resolved as a duplicate of ${kept.key}; continue there.`;
    await client.addComment(dup.key, textToAdf(text));
    await client.setIssueProperty(dup.key, RECONCILED_PROPERTY, { duplicateOf: kept.key, at: new Date().toISOString() });
  }
  const done = (await client.getTransitions(dup.key)).find((t) => t.toCategory === 'done');
  if (!done) return `no transition to a done status is available from its status: linked and commented, left open`;
  await client.transitionIssue(dup.key, done.id, done.resolutions.includes('Duplicate') ? 'Duplicate' : undefined);
  return undefined;
}

/** The ledger names the kept issue, so replies to the mail join it (only when it named a resolved one). */
async function pointLedger(deps: ReconcileDeps, mail: string, kept: FoundIssue, resolved: string[]): Promise<void> {
  const k = ledgerKey(deps.prefix, mail);
  const v = await deps.redis.get(k);
  if (!v) return;
  const entry = JSON.parse(v) as LedgerEntry;
  if (!resolved.includes(entry.issueKey)) return;
  await deps.redis.set(k, JSON.stringify({ ...entry, issueKey: kept.key, issueId: kept.id }), 'KEEPTTL', 'XX');
}

/** Runs the pass every `everyMs` (first after one interval); a failed pass is logged and the next one tries again. */
export function reconcileEvery(o: Omit<ReconcileDeps, 'client'> & { client(): Promise<ReconcileClient>; everyMs?: number }): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void o
      .client()
      .then((client) => reconcilePass({ ...o, client }))
      .catch((e: unknown) => o.log?.warn({ err: (e as Error).message }, 'reconcile pass failed: trying again at the next interval'))
      .finally(() => (running = false));
  }, o.everyMs ?? RECONCILE_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
