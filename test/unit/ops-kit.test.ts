// The ops kit (issue 24, point 6) stays true to the code: every query of the Grafana dashboard
// and every alert rule names a metric Mailroom exports (or Prometheus's own `up`), and every
// runbook an alert or a runbook links to is a file. Pure: reads files, no tools (the tools run
// in test/integration/ops-tools.test.ts).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { sourceFiles } from '../helpers/code-shape.js';
import { loadCommands } from '../../src/cli/commands/index.js';
import type { CliContext } from '../../src/cli/context.js';

const repo = join(import.meta.dirname, '..', '..');

/** Prometheus's own series, not Mailroom's. */
const PROMETHEUS_OWN = ['up'];

/** Mailroom's own metrics: each 'mailroom_…' string literal in src/. */
function mailroomMetrics(): Set<string> {
  const names = new Set<string>();
  for (const file of sourceFiles(join(repo, 'src'))) {
    for (const [, name] of readFileSync(file, 'utf8').matchAll(/['"`](mailroom_[a-z0-9_]+[a-z0-9])['"`]/g)) names.add(name!);
  }
  return names;
}

/** Every metric name src/ registers: Mailroom's own, and prom-client's process metrics under mailroom_process_. */
function exportedMetrics(): Set<string> {
  const names = mailroomMetrics();
  // The process metrics: the same call src/core/metrics.ts makes, asked for its names.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mailroom_process_' });
  for (const m of registry.getMetricsAsArray()) names.add(m.name);
  return names;
}

/** Exported metrics neither alerted on nor on the dashboard, each with why. Anything else exported is a blind spot. */
const NOT_SHOWN: Record<string, string> = {
  mailroom_jira_calls_recent: 'the error ratio over the same 5 minutes is what to watch; the count is for /readyz and status',
  mailroom_jira_last_success_timestamp_seconds: 'mailroom_jira_reachable says it; `mailroom status` prints the time',
  mailroom_jira_last_error_timestamp_seconds: 'mailroom_jira_reachable and the error ratio say it; `mailroom status` prints the time',
  mailroom_cache_hit_ratio: 'since each process started: the dashboard divides rates of mailroom_cache_lookups_total instead',
};

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

/** The metric names a PromQL expression reads (a small reader: strings, matchers, ranges, label lists, functions left out). */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const out: string[] = [];
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const after = bare.slice(m.index! + word.length).trimStart();
    if (after.startsWith('(') || PROMQL_WORDS.has(word.toLowerCase())) continue;
    out.push(word);
  }
  return out;
}

/** A name is exported when src/ registers it, or it is a histogram's _bucket/_sum/_count of one. */
function isExported(name: string, exported: Set<string>): boolean {
  if (exported.has(name) || PROMETHEUS_OWN.includes(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && exported.has(base);
}

interface AlertRule {
  alert: string;
  expr: string;
  annotations?: Record<string, string>;
}
const alerts = parse(readFileSync(join(repo, 'ops/prometheus/alerts.yml'), 'utf8')) as { groups: { rules: AlertRule[] }[] };
const rules = alerts.groups.flatMap((g) => g.rules);
interface Panel {
  id: number;
  title: string;
  type: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string; datasource?: { uid: string } }[];
}
const dashboard = JSON.parse(readFileSync(join(repo, 'ops/grafana/mailroom.json'), 'utf8')) as {
  uid: string;
  __inputs: { name: string; type: string; pluginId: string }[];
  panels: Panel[];
};
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

describe('the PromQL reader', () => {
  it('finds the metric names and nothing else', () => {
    expect(metricsIn('histogram_quantile(0.95, sum by (le, queue) (rate(mailroom_job_duration_seconds_bucket{queue="x"}[$__rate_interval])))')).toEqual([
      'mailroom_job_duration_seconds_bucket',
    ]);
    expect(metricsIn('label_replace(vector(1), "role", "poller", "", "") unless on (role) count by (role) (a_b) unless on () (c == 0)')).toEqual(['a_b', 'c']);
    expect(metricsIn('x > 90 or y{state="stopped"} == 1')).toEqual(['x', 'y']);
  });
  it('would catch a misspelt metric', () => {
    const exported = exportedMetrics();
    expect(isExported('mailroom_queue_jobs', exported)).toBe(true);
    expect(isExported('mailroom_job_duration_seconds_bucket', exported)).toBe(true);
    expect(isExported('mailroom_queue_job', exported)).toBe(false);
    expect(isExported('mailroom_queue_jobs_total', exported)).toBe(false);
  });
});

describe('the ops kit names only what Mailroom exports', () => {
  const exported = exportedMetrics();

  it('every dashboard query', () => {
    expect(queries.length).toBeGreaterThan(20);
    const unknown = queries.flatMap((q) => metricsIn(q.expr).filter((n) => !isExported(n, exported)).map((n) => `${q.panel}: ${n}`));
    expect(unknown).toEqual([]);
    // Every panel asks something: no query that names no metric at all.
    for (const q of queries) expect(metricsIn(q.expr).length, q.panel).toBeGreaterThan(0);
  });

  it('every alert rule', () => {
    const unknown = rules.flatMap((r) => metricsIn(r.expr).filter((n) => !isExported(n, exported)).map((n) => `${r.alert}: ${n}`));
    expect(unknown).toEqual([]);
  });

  it('the dashboard shows what the issue asks for', () => {
    const all = queries.map((q) => q.expr).join('\n');
    for (const m of [
      'mailroom_queue_jobs', // queue depth by state
      'mailroom_job_duration_seconds_bucket', // job duration
      'mailroom_jira_requests_total', // Jira calls by status
      'mailroom_jira_rate_limited_total', // rate limiting
      'mailroom_accounts_created_total', // accounts created
      'mailroom_store_bytes', // store size
      'mailroom_token_days_to_expiry', // token days left
    ]) expect(all).toContain(m);
  });

  it('the alerts cover what the issue asks for', () => {
    const names = rules.map((r) => r.alert).sort();
    expect(names).toEqual(
      expect.arrayContaining([
        'MailroomJiraUnreachable',
        'MailroomTokenInvalid',
        'MailroomTokenExpiringSoon',
        'MailroomMailboxParked',
        'MailroomMailboxNotRead',
        'MailroomRedisDown',
        'MailroomFailedJobsGrowing',
        'MailroomQueuePaused',
        'MailroomRoleAbsent',
        'MailroomProjectHeld',
        'MailroomNewAccountCeiling',
        'MailroomMetricsSourceFailing',
        'MailroomStoreNotPruned',
      ]),
    );
  });

  it('alerts on every install-wide gauge that says mail waits, even where /readyz stays ready', () => {
    const alerted = new Set(rules.flatMap((r) => metricsIn(r.expr)));
    for (const m of ['mailroom_project_held', 'mailroom_new_account_ceiling_waiting', 'mailroom_queue_paused', 'mailroom_mailbox_state', 'mailroom_token_valid', 'mailroom_jira_reachable']) {
      expect(alerted.has(m), m).toBe(true);
    }
  });

  it('alerts on or shows every metric Mailroom exports, or says here why not (no blind spot)', () => {
    const used = new Set([...rules.flatMap((r) => metricsIn(r.expr)), ...queries.flatMap((q) => metricsIn(q.expr))].map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    const blind = [...mailroomMetrics()].filter((m) => !used.has(m) && !(m in NOT_SHOWN)).sort();
    expect(blind).toEqual([]);
    // And the list holds no metric that is shown after all, nor one that no longer exists.
    for (const m of Object.keys(NOT_SHOWN)) {
      expect(used.has(m), `${m} is shown: drop it from NOT_SHOWN`).toBe(false);
      expect(mailroomMetrics().has(m), `${m} is not exported`).toBe(true);
    }
  });
});

describe('the dashboard shows what is true now', () => {
  it('the cache hit ratio is over the interval and across processes, not each process\'s since its start', () => {
    const q = queries.find((x) => x.panel === 'Look-up cache hit ratio')!;
    expect(metricsIn(q.expr)).toEqual(['mailroom_cache_lookups_total', 'mailroom_cache_lookups_total']);
    expect(q.expr).toMatch(/^sum\(rate\(mailroom_cache_lookups_total\{result="hit"\}\[\$__rate_interval\]\)\) \/ sum\(rate\(mailroom_cache_lookups_total\[\$__rate_interval\]\)\)$/);
  });
});

describe('the dashboard imports as Grafana expects', () => {
  it('asks for its Prometheus data source on import and every panel and query uses it', () => {
    expect(dashboard.uid).toBe('mailroom');
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      expect(new Set((p.targets ?? []).map((t) => t.refId)).size, p.title).toBe((p.targets ?? []).length);
    }
  });

  it('has unique panel ids and panels that fit the 24-column grid without overlapping', () => {
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const cells = new Map<string, string>();
    for (const p of dashboard.panels) {
      const g = p.gridPos;
      expect(g.x + g.w, p.title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.get(`${x},${y}`), `${p.title} overlaps`).toBeUndefined();
          cells.set(`${x},${y}`, p.title);
        }
      }
    }
  });
});

describe('runbook links resolve', () => {
  const runbooks = join(repo, 'docs/runbooks');

  it('every alert has a runbook_url that is a file under docs/runbooks/', () => {
    for (const r of rules) {
      const url = r.annotations?.runbook_url;
      expect(url, r.alert).toMatch(/^docs\/runbooks\/[a-z0-9-]+\.md$/);
      expect(existsSync(join(repo, url!)), `${r.alert}: ${url}`).toBe(true);
    }
  });

  it('every relative link in a runbook (and in docs/) points at a file that exists', () => {
    const files = [...readdirSync(runbooks).map((f) => join(runbooks, f)), ...readdirSync(join(repo, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(repo, 'docs', f))];
    expect(files.filter((f) => f.includes('runbooks')).length).toBeGreaterThanOrEqual(8);
    const broken: string[] = [];
    for (const file of files.filter((f) => f.endsWith('.md'))) {
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!) || target!.startsWith('#')) continue;
        const path = resolve(dirname(file), target!.split('#')[0]!);
        if (!existsSync(path)) broken.push(`${file.slice(repo.length + 1)} -> ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('runbook steps name `mailroom` commands and flags that exist', async () => {
    const program = new Command('mailroom').option('-c, --config <path>');
    for (const register of await loadCommands(['--help'])) register(program, {} as CliContext);
    const texts = [...readdirSync(runbooks).map((f) => readFileSync(join(runbooks, f), 'utf8')), readFileSync(join(repo, 'ops/prometheus/alerts.yml'), 'utf8')];
    const wrong: string[] = [];
    let seen = 0;
    for (const text of texts) {
      for (const [, line] of text.matchAll(/(?:^|[`\s(])mailroom((?: +(?:'[^'\n]*'|"[^"\n]*"|<[^>\n]*>|[^\s`|;)<>'"]+))+)/gm)) {
        const words = line!.trim().split(/ +/);
        let cmd = program;
        let i = 0;
        for (; i < words.length; i++) {
          const sub = cmd.commands.find((c) => c.name() === words[i]);
          if (!sub) break;
          cmd = sub;
        }
        if (cmd === program) continue; // prose ("Mailroom pauses…"), not a command
        seen++;
        for (const w of words.slice(i).filter((x) => /^--?[a-z]/.test(x))) {
          if (!cmd.options.some((o) => o.long === w || o.short === w) && !['--help', '-h'].includes(w)) wrong.push(`mailroom ${words.slice(0, i).join(' ')}: ${w}`);
        }
      }
    }
    expect(seen).toBeGreaterThan(30);
    expect(wrong).toEqual([]);
  });

  it('restoring a backup runs `mailroom restore-mark`, never a hand-typed DEL of the ledger stamp (a wrong prefix deletes nothing)', () => {
    for (const f of ['backup-restore.md', 'redis-wiped-or-restored.md']) {
      const text = readFileSync(join(runbooks, f), 'utf8');
      expect(text, f).toMatch(/^\s*(?:`)?mailroom restore-mark\b/m);
      expect(text, f).not.toMatch(/DEL\s+'[^']*:deliver:ledger-born'/);
    }
  });

  it('has the runbooks the issue lists', () => {
    for (const f of ['redis-down', 'redis-wiped-or-restored', 'jira-down', 'token', 'mailbox-parked', 'key-lost-or-rotated', 'upgrade-rollback', 'backup-restore']) {
      expect(existsSync(join(runbooks, `${f}.md`)), f).toBe(true);
    }
  });
});
