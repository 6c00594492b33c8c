// The ops kit checked by the tools that will read it (issue 24, point 6): Prometheus's promtool
// checks and unit-tests the alert rules; systemd-analyze verifies the unit files (each role's
// instance of the template, the poller's drop-in, the prune timer). Outside CI a missing tool
// skips its tests with a notice; in CI (CI or MAILROOM_CI set, as .ci/run does) it fails.
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { notice } from '../helpers/corpus.js';

const repo = join(import.meta.dirname, '..', '..');
const ROLES = ['poller', 'resolver', 'provisioner', 'deliverer', 'notifier', 'web'];
const inCi = !!(process.env.CI || process.env.MAILROOM_CI);

function missing(tool: string, args: string[]): string | undefined {
  const r = spawnSync(tool, args, { stdio: 'ignore', timeout: 10_000 });
  if (!r.error && r.status === 0) return undefined;
  if (inCi) throw new Error(`${tool} is not installed, and CI must run its checks: .ci/run installs it (apt-get install prometheus / systemd)`);
  const why = `${tool} is not installed (Debian: ${tool === 'promtool' ? 'apt-get install prometheus' : 'apt-get install systemd'})`;
  notice(`ops-tools: ${tool} tests skipped: ${why}`);
  return why;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
async function run(cmd: string, args: string[], cwd: string): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(cmd, args, { cwd, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

const noPromtool = missing('promtool', ['--version']);
describe.skipIf(!!noPromtool)('ops/prometheus with promtool', () => {
  const dir = join(repo, 'ops/prometheus');

  it('check rules: the alert rules parse and their expressions are valid PromQL', async () => {
    const r = await run('promtool', ['check', 'rules', 'alerts.yml'], dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('test rules: every alert fires when it should, with its labels and annotations, and not otherwise', async () => {
    const r = await run('promtool', ['test', 'rules', 'alerts.test.yml'], dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  it('every Grafana dashboard query is valid PromQL (checked as recording rules, $__rate_interval as 5m)', async () => {
    const dashboard = JSON.parse(readFileSync(join(repo, 'ops/grafana/mailroom.json'), 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr.replaceAll('$__rate_interval', '5m')));
    expect(exprs.length).toBeGreaterThan(20);
    const tmp = mkdtempSync(join(tmpdir(), 'mr-promtool-dash-'));
    try {
      const rules = { groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `mailroom_dashboard:query_${i}`, expr })) }] };
      writeFileSync(join(tmp, 'dashboard-rules.yml'), JSON.stringify(rules));
      const r = await run('promtool', ['check', 'rules', 'dashboard-rules.yml'], tmp);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      // And the check is real: a broken query is refused.
      writeFileSync(join(tmp, 'broken.yml'), JSON.stringify({ groups: [{ name: 'x', rules: [{ record: 'x:y', expr: 'sum by (queue (mailroom_queue_jobs)' }] }] }));
      expect((await run('promtool', ['check', 'rules', 'broken.yml'], tmp)).code).not.toBe(0);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('test rules fails when a rule is wrong (the tests are not vacuous)', async () => {
    // The same tests against rules whose Redis alert waits 5 minutes instead of 1.
    const tmp = mkdtempSync(join(tmpdir(), 'mr-promtool-'));
    try {
      cpSync(join(dir, 'alerts.test.yml'), join(tmp, 'alerts.test.yml'));
      const rules = readFileSync(join(dir, 'alerts.yml'), 'utf8');
      const broken = rules.replace(/(expr: mailroom_redis_up == 0\n\s+for: )1m/, '$15m');
      expect(broken).not.toBe(rules);
      writeFileSync(join(tmp, 'alerts.yml'), broken);
      const r = await run('promtool', ['test', 'rules', 'alerts.test.yml'], tmp);
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toContain('MailroomRedisDown');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

const noSystemd = missing('systemd-analyze', ['--version']);
describe.skipIf(!!noSystemd)('ops/systemd with systemd-analyze verify', () => {
  // verify reads the units from a folder of their own (a copy: the checkout's stays untouched).
  const tmp = mkdtempSync(join(tmpdir(), 'mr-systemd-'));
  cpSync(join(repo, 'ops/systemd'), tmp, { recursive: true });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('every role instance of mailroom@.service, the poller drop-in and the prune timer verify without a warning', async () => {
    const units = [...ROLES.map((r) => `mailroom@${r}.service`), 'mailroom-failed-prune.service', 'mailroom-failed-prune.timer'];
    const r = await run('systemd-analyze', ['verify', ...units.map((u) => join(tmp, u))], tmp);
    expect(r.code, r.stderr).toBe(0);
    // verify only warns (exit 0) about an unknown key: any output is a finding.
    expect(r.stderr.trim()).toBe('');
  });

  it('every unit is hardened to an exposure of 5.0 or less (systemd-analyze security, offline)', async () => {
    // The poller parses mail from anyone; every role holds Redis and some Jira secret. 5.0 is
    // systemd's line between OK and MEDIUM; the units score about 3 (no SystemCallFilter= yet).
    const units = [...ROLES.map((r) => `mailroom@${r}.service`), 'mailroom-failed-prune.service'];
    for (const u of units) {
      const r = await run('systemd-analyze', ['security', '--offline=true', '--threshold=50', join(tmp, u)], tmp);
      expect(r.code, `${u}: ${r.stdout.split('\n').filter((l) => l.includes('Overall')).join('')}`).toBe(0);
    }
  });

  it('catches a misspelt key and a poller drop-in that does not reset ExecStart', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'mr-systemd-bad-'));
    try {
      cpSync(join(repo, 'ops/systemd'), bad, { recursive: true });
      const unit = readFileSync(join(bad, 'mailroom@.service'), 'utf8');
      writeFileSync(join(bad, 'mailroom@.service'), unit.replace('RestartSec=', 'RestartSecs='));
      const dropIn = join(bad, 'mailroom@poller.service.d/poller.conf');
      writeFileSync(dropIn, readFileSync(dropIn, 'utf8').replace(/^ExecStart=\n/m, ''));
      const r = await run('systemd-analyze', ['verify', join(bad, 'mailroom@poller.service')], bad);
      expect(r.stderr).toContain("Unknown key 'RestartSecs'");
      expect(r.stderr).toContain('more than one ExecStart=');
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('says what the exit table and the Procfile say: no restart after exit 2; the poller gets its node flags', () => {
    const unit = readFileSync(join(repo, 'ops/systemd/mailroom@.service'), 'utf8');
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit.match(/^RestartPreventExitStatus=(.*)$/m)?.[1]?.split(/\s+/)).toEqual(expect.arrayContaining(['2', '243']));
    // The runbook the role-absent alert links says what each of them means.
    const runbook = readFileSync(join(repo, 'docs/runbooks/role-absent.md'), 'utf8');
    for (const code of ['2', '243']) expect(runbook).toContain(`- **${code}**`);
    expect(unit).toMatch(/^EnvironmentFile=\/etc\/mailroom\/%i\.env$/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/env node dist\/workers\/%i\.js$/m);
    const procLine = readFileSync(join(repo, 'Procfile'), 'utf8').split('\n').find((l) => l.startsWith('poller:'))!;
    const dropIn = readFileSync(join(repo, 'ops/systemd/mailroom@poller.service.d/poller.conf'), 'utf8');
    expect(dropIn).toContain(`ExecStart=/usr/bin/env ${procLine.replace(/^poller:\s*/, '')}`);
    // The timer runs the command that exists: `mailroom failed prune`.
    expect(readFileSync(join(repo, 'ops/systemd/mailroom-failed-prune.service'), 'utf8')).toMatch(/^ExecStart=.* bin\/mailroom\.js failed prune --older-than \d+d$/m);
  });

  it('ships one environment file per role, each with only that role\'s secrets', () => {
    const secretsOf = (role: string) =>
      readFileSync(join(repo, 'ops/systemd/env', `${role}.env`), 'utf8')
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => l.split('=')[0]!)
        .filter((k) => /_FILE$|PASSWORD|SECRET|_KEY$/.test(k))
        .sort();
    expect(secretsOf('poller')).toEqual(['SUPPORT_IMAP_PASSWORD_FILE']);
    for (const r of ['resolver', 'provisioner', 'deliverer']) expect(secretsOf(r)).toEqual(['MAILROOM_SECRET_KEY_FILE']);
    expect(secretsOf('notifier')).toEqual(['MAILROOM_SECRET_KEY_FILE', 'SMTP_PASSWORD_FILE']);
    expect(secretsOf('web')).toEqual(['JIRA_WEBHOOK_SECRET_FILE', 'MAILROOM_SECRET_KEY_FILE', 'MAILROOM_WEB_PASSWORD_FILE']);
    expect(secretsOf('cli')).toEqual([]);
  });

  it('gives each role its own secrets only: every role runs as one user, so they are credentials, not files it may read', () => {
    // The poller parses mail from anyone: a file the mailroom user may read is a file it may
    // read. Each X_FILE points into the role's own credentials directory, filled by its drop-in
    // from root-only files; the secrets folder itself is out of every role's sight.
    const unit = readFileSync(join(repo, 'ops/systemd/mailroom@.service'), 'utf8');
    expect(unit).toMatch(/^InaccessiblePaths=-?\/etc\/mailroom\/secrets$/m);
    for (const role of ROLES) {
      const env = readFileSync(join(repo, 'ops/systemd/env', `${role}.env`), 'utf8');
      const files = [...env.matchAll(/^([A-Z_]+_FILE)=(.*)$/gm)].map((m) => ({ name: m[1]!, path: m[2]! }));
      expect(files.length, role).toBeGreaterThan(0);
      const dropIn = readFileSync(join(repo, `ops/systemd/mailroom@${role}.service.d/credentials.conf`), 'utf8');
      const loaded = new Map([...dropIn.matchAll(/^LoadCredential=([^:\n]+):(.+)$/gm)].map((m) => [m[1]!, m[2]!]));
      for (const f of files) {
        const inDir = new RegExp(`^/run/credentials/mailroom@${role}\\.service/([^/]+)$`).exec(f.path);
        expect(inDir, `${role}: ${f.name}=${f.path}`).not.toBeNull();
        expect(loaded.get(inDir![1]!), `${role}: ${f.name}`).toBe(`/etc/mailroom/secrets/${inDir![1]}`);
      }
      // Nothing loaded that the role's environment does not name.
      expect([...loaded.keys()].sort(), role).toEqual(files.map((f) => f.path.split('/').pop()!).sort());
    }
    // Where the install guides put the key is where the units load it from.
    for (const doc of ['README.md', 'docs/workaround-token.md']) {
      const named = [...readFileSync(join(repo, doc), 'utf8').matchAll(/MAILROOM_SECRET_KEY_FILE=(\S+?)[`\s]/g)].map((m) => m[1]);
      expect(named.length, doc).toBeGreaterThan(0);
      for (const path of named) expect(path, doc).toBe('/etc/mailroom/secrets/token.key');
    }
  });
});
