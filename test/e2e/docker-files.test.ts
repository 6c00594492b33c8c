// The Docker setup, tested without a Docker daemon (issue 19.8): docker-compose.yml parses
// and names every role with the right entrypoint, the image's entrypoints exist in dist/ after
// `npm run build`, and the Dockerfile and container config hold what a container needs.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

const repo = join(import.meta.dirname, '..', '..');
const ROLES = ['poller', 'resolver', 'provisioner', 'deliverer', 'notifier', 'web'];

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  ports?: string[];
  profiles?: string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  environment?: Record<string, string>;
  secrets?: string[];
  configs?: { source: string; target: string }[];
}
const compose = parse(readFileSync(join(repo, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
  configs: Record<string, { file: string }>;
};
const services = compose.services;
const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');

describe('docker-compose.yml', () => {
  it('has a service per role, each running its built entrypoint from the Mailroom image', () => {
    for (const role of ROLES) {
      expect(services[role], role).toBeDefined();
      // node, the node flags the Procfile gives that role (the poller's small young generation), the entry.
      const procLine = readFileSync(join(repo, 'Procfile'), 'utf8').split('\n').find((l) => l.startsWith(`${role}:`))!;
      const flags = procLine.split(/\s+/).filter((w) => w.startsWith('--'));
      expect(services[role]!.command).toEqual(['node', ...flags, `dist/workers/${role}.js`]);
      expect(services[role]!.build).toBe('.');
      expect(services[role]!.stop_grace_period).toMatch(/^\d+s$/);
      expect(services[role]!.environment?.REDIS_URL).toBe('redis://redis:6379');
    }
    // The same roles as the Procfile, nothing missing in either.
    const procfile = readFileSync(join(repo, 'Procfile'), 'utf8').trim().split('\n').map((l) => l.split(':')[0]);
    expect(procfile.sort()).toEqual([...ROLES].sort());
  });

  it('keeps Redis off the host, publishes the board on loopback only, and checks health', () => {
    expect(services.redis!.ports).toBeUndefined();
    for (const s of Object.values(services)) for (const p of s.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:/);
    expect(services.web!.healthcheck!.test.join(' ')).toContain('/healthz');
    expect(services.trial!.healthcheck!.test.join(' ')).toContain('/readyz');
  });

  it('has a trial profile that runs the simulator inside its own container, under its own prefix', () => {
    const trial = services.trial!;
    expect(trial.profiles).toEqual(['trial']);
    expect(trial.environment?.MAILROOM_PREFIX).not.toBe('{mailroom}');
    expect(trial.command).toEqual(['/app/trial/trial.sh']);
    const script = readFileSync(join(repo, 'docker', 'trial.sh'), 'utf8');
    expect(script).toContain('jira-sim');
    expect(script).toContain('JIRA_BASE_URL="http://127.0.0.1:');
    expect(script).toMatch(/exec mailroom start\n$/);
  });
});

// Each role's secrets (issue 24, point 7): only what it uses. The key: roles that call Jira with
// the workaround token, and web for its /readyz token probe; IMAP passwords: the poller; SMTP:
// the notifier; the board password and the webhook secret: web.
const ROLE_SECRETS: Record<string, string[]> = {
  poller: ['support_imap_password'],
  resolver: ['mailroom_secret_key'],
  provisioner: ['mailroom_secret_key'],
  deliverer: ['mailroom_secret_key'],
  notifier: ['mailroom_secret_key', 'smtp_password'],
  web: ['jira_webhook_secret', 'mailroom_secret_key', 'web_password'],
};

describe('docker-compose.yml: secrets as files, config mounted', () => {
  it('gives each role only its own secrets, as files named by X_FILE variables', () => {
    for (const role of ROLES) {
      const s = services[role]!;
      expect([...(s.secrets ?? [])].sort(), role).toEqual(ROLE_SECRETS[role]);
      const fileVars = Object.entries(s.environment ?? {}).filter(([k]) => k.endsWith('_FILE'));
      // One X_FILE per secret the role gets, each pointing at that secret's mount.
      expect(fileVars.map(([, v]) => v).sort(), role).toEqual(ROLE_SECRETS[role]!.map((n) => `/run/secrets/${n}`).sort());
      // No secret value in the environment itself.
      for (const k of Object.keys(s.environment ?? {})) expect(k, `${role} ${k}`).not.toMatch(/(PASSWORD|SECRET|TOKEN|_KEY)$/);
      expect(s.environment?.REDIS_URL).toBe('redis://redis:6379');
    }
    // Every declared secret is a file under ./secrets/ (git- and docker-ignored) and is used.
    for (const [name, def] of Object.entries(compose.secrets)) {
      expect(def.file).toBe(`./secrets/${name}`);
      expect(ROLES.some((r) => services[r]!.secrets?.includes(name)), name).toBe(true);
    }
    expect(readFileSync(join(repo, '.gitignore'), 'utf8')).toMatch(/^secrets\/$/m);
    expect(readFileSync(join(repo, '.dockerignore'), 'utf8')).toMatch(/^secrets$/m);
  });

  it('names in the container config the variables whose _FILE forms compose sets', () => {
    const dockerYml = readFileSync(join(repo, 'docker', 'mailroom.docker.yml'), 'utf8');
    const fixed = ['MAILROOM_SECRET_KEY', 'MAILROOM_WEB_PASSWORD'];
    for (const role of ROLES) {
      for (const k of Object.keys(services[role]!.environment ?? {}).filter((k) => k.endsWith('_FILE'))) {
        const v = k.slice(0, -'_FILE'.length);
        if (!fixed.includes(v)) expect(dockerYml, `${role}: ${k}`).toMatch(new RegExp(`Env: ${v}\\b`));
      }
    }
  });

  it('keeps .env free of secrets: it reaches every container', () => {
    const env = readFileSync(join(repo, 'docker', 'env.example'), 'utf8');
    const set = env.split('\n').filter((l) => /^\s*[A-Z_]+=/.test(l) || /^#\s*[A-Z_]+=/.test(l)).map((l) => l.replace(/^#\s*/, '').split('=')[0]!);
    expect(set).toContain('JIRA_BASE_URL');
    for (const k of set) expect(k).not.toMatch(/(PASSWORD|SECRET|TOKEN|_KEY)$/);
  });

  it('mounts the configuration into every role instead of baking it into the image', () => {
    expect(dockerfile).not.toMatch(/^COPY .*\.ya?ml\b/m);
    expect(dockerfile).toMatch(/MAILROOM_CONFIG=\/app\/mailroom\.yml/);
    for (const name of [...ROLES, 'trial']) {
      expect(services[name]!.configs, name).toEqual([{ source: 'mailroom', target: '/app/mailroom.yml' }]);
    }
    expect(compose.configs.mailroom!.file).toBe('${MAILROOM_CONFIG_PATH:-./docker/mailroom.docker.yml}');
  });

  it('a role started with its compose environment reads its secrets from the mounted files', () => {
    // /run/secrets/<name> stands in as a temp directory: the same values reach the parsed config.
    const dir = mkdtempSync(join(tmpdir(), 'mr-run-secrets-'));
    const values: Record<string, string> = { web_password: 'board-pw', mailroom_secret_key: 'k', jira_webhook_secret: 'hook' };
    for (const [name, v] of Object.entries(values)) writeFileSync(join(dir, name), `${v}\n`, { mode: 0o600 });
    const env = Object.fromEntries(
      Object.entries(services.web!.environment!).map(([k, v]) => [k, v.replace('/run/secrets', dir)]),
    );
    const config = loadConfig(join(repo, 'docker', 'mailroom.docker.yml'), { ...env, MAILROOM_WEB_USER: 'ops' });
    expect(config.webAuth).toMatchObject({ user: 'ops', password: 'board-pw' });
    expect(config.secretKey.file).toBe(join(dir, 'mailroom_secret_key'));
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('Dockerfile and container configuration', () => {
  it('builds in two stages and runs as a non-root user with production dependencies only', () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist dist$/m);
    const user = dockerfile.match(/^USER (\S+)$/m)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    // Everything the Dockerfile copies from the checkout exists.
    for (const [, src] of dockerfile.matchAll(/^COPY (?!--from)(\S+)/gm)) {
      expect(existsSync(join(repo, src!)), src).toBe(true);
    }
  });

  it('the container config binds the board on 0.0.0.0 inside and takes Jira from JIRA_BASE_URL', () => {
    const config = loadConfig(join(repo, 'docker', 'mailroom.docker.yml'), { JIRA_BASE_URL: 'https://acme.atlassian.net' });
    expect(config.web.host).toBe('0.0.0.0');
    expect(config.jira.site).toBe('https://acme.atlassian.net');
    const own = loadConfig(join(repo, 'docker', 'mailroom.docker.yml'), {});
    expect(new URL(own.jira.site).hostname).not.toMatch(/^(127\.|localhost$)/);
  });

  describe('after npm run build', () => {
    let out: string;
    beforeAll(async () => {
      // The build's own command, into a directory of its own (the checkout's dist/ is left alone).
      out = mkdtempSync(join(tmpdir(), 'mr-dist-'));
      await promisify(execFile)(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', out], {
        cwd: repo,
      });
    }, 300_000);
    afterAll(() => rmSync(out, { recursive: true, force: true }));

    it('every entrypoint the image runs exists', () => {
      const entries = new Set<string>(['dist/src/cli/main.js', 'dist/workers/all.js']);
      for (const s of Object.values(services)) if (s.command?.[0] === 'node') entries.add(s.command.at(-1)!);
      const cmd = dockerfile.match(/^CMD \[(.*)\]$/m)?.[1];
      if (cmd) entries.add((JSON.parse(`[${cmd}]`) as string[])[1]!);
      for (const line of readFileSync(join(repo, 'Procfile'), 'utf8').trim().split('\n')) entries.add(line.split(' ').pop()!);
      for (const e of entries) expect(existsSync(join(out, e.replace(/^dist\//, ''))), e).toBe(true);
    });
  });
});
