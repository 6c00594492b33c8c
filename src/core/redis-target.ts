// Which Redis an install uses, parsed once from the environment (pure, no connection):
//   REDIS_URL=redis://[user:pass@]host:port[/db]   or rediss:// for TLS        (one server)
//   REDIS_SENTINELS=h1:26379,h2:26379 + REDIS_SENTINEL_MASTER=mymaster          (Sentinel)
//   REDIS_CLUSTER_NODES=h1:7000,h2:7001,h3:7002                                 (Cluster seeds)
// Passwords for Sentinel and Cluster come from REDIS_PASSWORD / REDIS_USERNAME (data nodes)
// and REDIS_SENTINEL_PASSWORD / REDIS_SENTINEL_USERNAME (the sentinels); REDIS_TLS=1 turns on
// TLS for both. Passwords are never part of a description.

export interface HostPort {
  host: string;
  port: number;
}

export type RedisTarget =
  | { form: 'url'; url: string }
  | {
      form: 'sentinel';
      sentinels: HostPort[];
      masterName: string;
      username?: string;
      password?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
      db?: number;
      tls: boolean;
    }
  | { form: 'cluster'; nodes: HostPort[]; username?: string; password?: string; tls: boolean };

export type RedisForm = RedisTarget['form'];

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface TargetProblem {
  path: string;
  message: string;
}

type Env = Record<string, string | undefined>;

/** The target the environment names, or the problems that stop it (each naming its variable). */
export function parseRedisTarget(env: Env): { target?: RedisTarget; problems: TargetProblem[] } {
  const problems: TargetProblem[] = [];
  const named = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((k) => env[k]);
  if (named.length > 1) {
    return { problems: [{ path: named.join(', '), message: `set only one of ${named.join(', ')}: they name different forms of Redis` }] };
  }
  const tlsRaw = (env.REDIS_TLS ?? '').toLowerCase();
  if (tlsRaw && !['1', 'true', 'yes', '0', 'false', 'no'].includes(tlsRaw)) {
    problems.push({ path: 'REDIS_TLS', message: `"${env.REDIS_TLS}" is not 1/true/yes or 0/false/no` });
  }
  const tls = ['1', 'true', 'yes'].includes(tlsRaw);
  const username = env.REDIS_USERNAME || undefined;
  const password = env.REDIS_PASSWORD || undefined;

  if (env.REDIS_SENTINELS) {
    const sentinels = hostList(env.REDIS_SENTINELS, 'REDIS_SENTINELS', 26379, problems);
    const masterName = env.REDIS_SENTINEL_MASTER ?? '';
    if (!masterName) problems.push({ path: 'REDIS_SENTINEL_MASTER', message: 'not set: name the master the sentinels monitor, e.g. mymaster' });
    let db: number | undefined;
    if (env.REDIS_DB) {
      db = Number(env.REDIS_DB);
      if (!Number.isInteger(db) || db < 0) problems.push({ path: 'REDIS_DB', message: `"${env.REDIS_DB}" is not a database number such as 0` });
    }
    if (problems.length) return { problems };
    return {
      problems,
      target: {
        form: 'sentinel',
        sentinels,
        masterName,
        username,
        password,
        sentinelUsername: env.REDIS_SENTINEL_USERNAME || undefined,
        sentinelPassword: env.REDIS_SENTINEL_PASSWORD || undefined,
        db,
        tls,
      },
    };
  }
  if (env.REDIS_CLUSTER_NODES) {
    const nodes = hostList(env.REDIS_CLUSTER_NODES, 'REDIS_CLUSTER_NODES', 6379, problems);
    if (env.REDIS_DB && env.REDIS_DB !== '0') problems.push({ path: 'REDIS_DB', message: 'a Redis Cluster has only database 0: unset REDIS_DB' });
    if (problems.length) return { problems };
    return { problems, target: { form: 'cluster', nodes, username, password, tls } };
  }
  const url = env.REDIS_URL || DEFAULT_REDIS_URL;
  const checked = checkUrl(url);
  if (checked) problems.push({ path: 'REDIS_URL', message: checked });
  // Variables of the other forms, set beside a URL: a half-done switch that would be ignored.
  const inUrl: Record<string, string> = {
    REDIS_PASSWORD: 'put a password for REDIS_URL in the URL (redis://:password@host:port)',
    REDIS_USERNAME: 'put a user for REDIS_URL in the URL (redis://user:password@host:port)',
    REDIS_SENTINEL_MASTER: 'set REDIS_SENTINELS too, or unset it',
    REDIS_DB: 'put the database in the URL path (redis://host:6379/2)',
    // "0"/"no" asks for nothing a plain redis:// URL would not do.
    ...(tls ? { REDIS_TLS: 'use a rediss:// URL for TLS' } : {}),
  };
  for (const [k, fix] of Object.entries(inUrl)) {
    if (env[k]) problems.push({ path: k, message: `${k} is only read with REDIS_SENTINELS or REDIS_CLUSTER_NODES: ${fix}` });
  }
  return problems.length ? { problems } : { problems, target: { form: 'url', url } };
}

/** A plain URL target (throws on a malformed one): for callers that only ever had a URL. */
export function parseRedisUrl(url: string): RedisTarget {
  const problem = checkUrl(url);
  if (problem) throw new Error(problem);
  return { form: 'url', url };
}

function checkUrl(url: string): string | undefined {
  if (!/^rediss?:\/\//.test(url)) return `"${maskUrl(url)}" is not a redis:// or rediss:// URL`;
  try {
    const u = new URL(url);
    if (!u.hostname) return `"${maskUrl(url)}" names no host`;
    // ioredis reads the path as the database number and sends SELECT with whatever it finds:
    // "/abc" crashed the CLI with "value is not an integer".
    if (u.pathname && u.pathname !== '/' && !/^\/\d{1,5}$/.test(u.pathname)) {
      return `"${maskUrl(url)}": the path must be a database number, e.g. redis://host:6379/0`;
    }
  } catch {
    return `"${maskUrl(url)}" is not a valid URL`;
  }
  return undefined;
}

function hostList(raw: string, path: string, defaultPort: number, problems: TargetProblem[]): HostPort[] {
  const out: HostPort[] = [];
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    // host, host:port, or [v6]:port
    const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+))(?::(\d+))?$/.exec(item);
    const port = m?.[3] ? Number(m[3]) : defaultPort;
    if (!m || port < 1 || port > 65535) {
      problems.push({ path, message: `"${item}" is not host:port (e.g. 10.0.0.5:${defaultPort}); separate several with commas` });
      continue;
    }
    out.push({ host: (m[1] ?? m[2])!, port });
  }
  if (!out.length && !problems.some((p) => p.path === path)) problems.push({ path, message: `lists no host:port` });
  return out;
}

// ioredis reads `?password=` (and the other options) from the query string as well as from
// the userinfo, so both are masked; any parameter whose name suggests a secret is too.
const SECRET_PARAM = /pass|secret|token|auth|key|cred/i;

/** A URL for messages: the password masked wherever it holds one (userinfo or query string). */
export function maskUrl(url: string): string {
  const at = url.indexOf('?');
  const base = (at < 0 ? url : url.slice(0, at)).replace(/\/\/([^@/]*)@/, '//****@');
  if (at < 0) return base;
  const query = url
    .slice(at + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // a malformed escape: judge the name as written
      }
      return eq >= 0 && SECRET_PARAM.test(decoded) ? `${name}=****` : pair;
    })
    .join('&');
  return `${base}?${query}`;
}

const hosts = (list: HostPort[]) => list.map((h) => (h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`)).join(',');

/** One line naming the form and where it points, without secrets: for logs, status, errors. */
export function describeTarget(t: RedisTarget): string {
  switch (t.form) {
    case 'url':
      return maskUrl(t.url);
    case 'sentinel':
      return `sentinel master "${t.masterName}" via ${hosts(t.sentinels)}${t.tls ? ' (TLS)' : ''}`;
    case 'cluster':
      return `cluster via ${hosts(t.nodes)}${t.tls ? ' (TLS)' : ''}`;
  }
}
