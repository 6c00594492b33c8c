// Reads mailroom.yml (or --config, or MAILROOM_CONFIG) and the environment, once, into a typed
// Config. Every problem is reported with its key path and what would be valid.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { configSchema, type FileConfig } from './schema.js';
import { loadOAuthSecrets, type OAuthSecrets } from './oauth-secrets.js';
import type { OAuthConfig } from './oauth-schema.js';
import { oauthKey } from './oauth-keys.js';
import { FIXED_SECRET_VARS, secretVarsNamedIn, withSecretFiles } from './secret-files.js';
import { DEFAULT_REDIS_URL, describeTarget, maskUrl, parseRedisTarget, type RedisTarget } from '../core/redis-target.js';

export type Env = Record<string, string | undefined>;

/** The roles that hold a secret from the environment; only they refuse to start without it. */
export type SecretRole = 'poller' | 'notifier' | 'web';

/** A secret the configuration names but the environment does not hold. */
export interface MissingSecret {
  role: SecretRole;
  path: string;
  message: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface Config extends FileConfig {
  /** Where the configuration came from (a path, or a description for configs built in code). */
  source: string;
  /** Which Redis, in which form (one server, Sentinel, Cluster): see src/core/redis-target.ts. */
  redis: RedisTarget;
  /** The plain form's URL; for Sentinel and Cluster a description (not a URL to connect to). */
  redisUrl: string;
  /** Key prefix for BullMQ queues and Mailroom's own keys. */
  prefix: string;
  /** Secrets taken from the environment; never printed unmasked, never put in Redis or jobs. */
  secrets: {
    imapPasswords: Record<string, string>;
    smtpPassword?: string;
    webhookSecret?: string;
    /** OAuth client secrets and keys per auth block (src/config/oauth-keys.ts names them). */
    oauth?: Record<string, OAuthSecrets>;
  };
  /**
   * Secrets named by the file but absent from this process's environment. Not an error here:
   * `status` or `token rotate` need no IMAP password; the role that uses one calls
   * requireSecrets() at start and refuses then.
   */
  missingSecrets: MissingSecret[];
  /** Where the token encryption key comes from (read and checked by src/token/key.ts). */
  secretKey: { base64?: string; file?: string };
  /** Bull Board / web credentials (MAILROOM_WEB_USER, MAILROOM_WEB_PASSWORD). */
  webAuth: {
    user?: string;
    password?: string;
    proxyHeader?: string;
    /** Read-only viewer pair (MAILROOM_WEB_READONLY_USER, MAILROOM_WEB_READONLY_PASSWORD). */
    readonlyUser?: string;
    readonlyPassword?: string;
    /** MAILROOM_WEB_READONLY=1: the whole board is read-only, whoever signs in. */
    readOnly?: boolean;
  };
}

export { DEFAULT_REDIS_URL };
export const DEFAULT_PREFIX = '{mailroom}';

export function configPath(cliPath: string | undefined, env: Env): string {
  return resolve(cliPath ?? env.MAILROOM_CONFIG ?? 'mailroom.yml');
}

export function loadConfig(path: string, env: Env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([
      {
        path: '',
        message:
          code === 'ENOENT'
            ? `no configuration file at ${path}: create one (see mailroom.example.yml) or pass --config / MAILROOM_CONFIG`
            : `cannot read ${path}: ${(err as Error).message}`,
      },
    ]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
    // The parser's first line repeats the place (`… at line 7, column 1:`, its code frame below); the place is said once, before it.
    const what = (err as Error).message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError([{ path: '', message: `${path} is not valid YAML${where}: ${what}` }]);
  }
  return parseConfig(raw, env, path);
}

type Problems = { path: string; message: string }[];

export function parseConfig(raw: unknown, env: Env, source = '(in code)'): Config {
  const withEnv = applyEnvOverrides(raw, env);
  const result = configSchema.safeParse(withEnv);
  if (!result.success) throw new ConfigError(result.error.issues.map(describeIssue));
  const file = result.data;
  const problems: Problems = [];

  checkJiraUrl(file.jira.site, 'jira.site', problems);
  if (file.jira.apiBase) checkJiraUrl(file.jira.apiBase, 'jira.apiBase', problems);
  // Every secret variable may come as X_FILE instead (src/config/secret-files.ts).
  const secretEnv = withSecretFiles(env, [...FIXED_SECRET_VARS, ...secretVarsNamedIn(file)], problems);
  const { secrets, missingSecrets } = readSecrets(file, secretEnv, problems);
  const redis = parseRedisTarget(secretEnv);
  problems.push(...redis.problems);
  const prefix = readPrefix(env, redis.target, problems);
  const web = webWithEnv(file, env, problems);
  const log = logWithEnv(file, env, problems);

  if (problems.length) throw new ConfigError(problems);
  return {
    ...file,
    web,
    log,
    source,
    redis: redis.target!,
    redisUrl: redis.target!.form === 'url' ? redis.target!.url : describeTarget(redis.target!),
    prefix,
    secrets,
    missingSecrets,
    secretKey: { base64: env.MAILROOM_SECRET_KEY || undefined, file: env.MAILROOM_SECRET_KEY_FILE || undefined },
    webAuth: webAuthOf(secretEnv),
  };
}

/** The secrets the file names, from the environment; a missing one is noted for the role that needs it. */
function readSecrets(file: FileConfig, env: Env, problems: Problems): { secrets: Config['secrets']; missingSecrets: MissingSecret[] } {
  const missingSecrets: MissingSecret[] = [];
  const imapPasswords: Record<string, string> = {};
  file.mailboxes.forEach((m, i) => {
    if (!m.imap?.passwordEnv) return;
    const value = env[m.imap.passwordEnv];
    if (!value) {
      missingSecrets.push({
        role: 'poller',
        path: `mailboxes[${i}].imap.passwordEnv`,
        message: `environment variable ${m.imap.passwordEnv} is not set: export the IMAP password of ${m.imap.user} in it`,
      });
    } else imapPasswords[m.id] = value;
  });

  let smtpPassword: string | undefined;
  if (file.smtp?.passwordEnv) {
    smtpPassword = env[file.smtp.passwordEnv];
    if (!smtpPassword) {
      missingSecrets.push({ role: 'notifier', path: 'smtp.passwordEnv', message: `environment variable ${file.smtp.passwordEnv} is not set: export the SMTP password of ${file.smtp.user ?? file.smtp.from} in it` });
    }
  }
  // An OAuth secret too is the business of the role that logs in (the poller for IMAP, the
  // notifier for SMTP): the resolver, `status` and `token set` run without it.
  const oauth: Record<string, OAuthSecrets> = {};
  const oauthOf = (auth: OAuthConfig, path: string, role: SecretRole): OAuthSecrets => {
    const absent: Problems = [];
    const secrets = loadOAuthSecrets(auth, env, path, problems, absent);
    missingSecrets.push(...absent.map((p) => ({ role, ...p })));
    return secrets;
  };
  file.mailboxes.forEach((m, i) => {
    if (m.imap?.auth) oauth[oauthKey.imap(m.id)] = oauthOf(m.imap.auth, `mailboxes[${i}].imap.auth`, 'poller');
  });
  if (file.smtp?.auth) oauth[oauthKey.smtp] = oauthOf(file.smtp.auth, 'smtp.auth', 'notifier');
  let webhookSecret: string | undefined;
  if (file.notifications?.webhookSecretEnv) {
    webhookSecret = env[file.notifications.webhookSecretEnv];
    if (!webhookSecret) {
      // The web role takes Jira's webhooks: it verifies their signature with this secret.
      missingSecrets.push({ role: 'web', path: 'notifications.webhookSecretEnv', message: `environment variable ${file.notifications.webhookSecretEnv} is not set` });
    }
  }
  return { secrets: { imapPasswords, smtpPassword, webhookSecret, oauth }, missingSecrets };
}

function readPrefix(env: Env, target: RedisTarget | undefined, problems: Problems): string {
  const prefix = env.MAILROOM_PREFIX || DEFAULT_PREFIX;
  if (!/^[A-Za-z0-9{}_.:-]+$/.test(prefix)) {
    problems.push({ path: 'MAILROOM_PREFIX', message: 'letters, digits and {}_.:- only, e.g. {mailroom}' });
  } else if (target?.form === 'cluster' && !/^\{[^{}]+\}/.test(prefix)) {
    // Without a leading {hash tag} an install's keys spread over a cluster's slots: BullMQ's
    // Lua scripts and Mailroom's MULTI blocks fail there with CROSSSLOT.
    problems.push({ path: 'MAILROOM_PREFIX', message: `"${prefix}" must start with a {hash tag}, e.g. {${prefix.replace(/[{}]/g, '') || 'mailroom'}}, so every key of the install shares one Redis Cluster slot` });
  }
  return prefix;
}

/** web, with PORT overriding web.port. */
function webWithEnv(file: FileConfig, env: Env, problems: Problems): FileConfig['web'] {
  const web = { ...file.web };
  if (env.PORT !== undefined && env.PORT !== '') {
    const port = /^\d+$/.test(env.PORT) ? Number(env.PORT) : NaN;
    if (port >= 0 && port <= 65535) web.port = port;
    else problems.push({ path: 'PORT', message: `"${env.PORT}" is not a TCP port: a number from 0 to 65535 (it overrides web.port)` });
  }
  return web;
}

/** log, with MAILROOM_LOG_LEVEL (or LOG_LEVEL) overriding log.level. */
function logWithEnv(file: FileConfig, env: Env, problems: Problems): FileConfig['log'] {
  const log = { ...file.log };
  const levelVar = env.MAILROOM_LOG_LEVEL ? 'MAILROOM_LOG_LEVEL' : env.LOG_LEVEL ? 'LOG_LEVEL' : undefined;
  if (levelVar) {
    const level = env[levelVar]!.trim().toLowerCase();
    if ((LOG_LEVELS as readonly string[]).includes(level)) log.level = level as (typeof LOG_LEVELS)[number];
    else problems.push({ path: levelVar, message: `"${env[levelVar]}" is not a log level: use one of ${LOG_LEVELS.join(', ')} (it overrides log.level)` });
  }
  return log;
}

function webAuthOf(env: Env): Config['webAuth'] {
  return {
    user: env.MAILROOM_WEB_USER || undefined,
    password: env.MAILROOM_WEB_PASSWORD || undefined,
    proxyHeader: env.MAILROOM_WEB_PROXY_HEADER || undefined,
    readonlyUser: env.MAILROOM_WEB_READONLY_USER || undefined,
    readonlyPassword: env.MAILROOM_WEB_READONLY_PASSWORD || undefined,
    readOnly: ['1', 'true', 'yes'].includes((env.MAILROOM_WEB_READONLY ?? '').toLowerCase()),
  };
}

/**
 * Refuse to start a role whose secrets are missing from the environment, naming each key path
 * and variable. Secrets of other roles are not this role's business.
 */
export function requireSecrets(config: Pick<Config, 'missingSecrets'>, ...roles: SecretRole[]): void {
  const missing = config.missingSecrets.filter((m) => roles.includes(m.role));
  if (missing.length) throw new ConfigError(missing.map(({ path, message }) => ({ path, message })));
}

/** The level before a configuration is read (or when it cannot be): MAILROOM_LOG_LEVEL, LOG_LEVEL, info. */
export function envLogLevel(env: Env): string {
  const level = (env.MAILROOM_LOG_LEVEL || env.LOG_LEVEL || '').trim().toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(level) ? level : 'info';
}

function applyEnvOverrides(raw: unknown, env: Env): unknown {
  if (!env.JIRA_BASE_URL || typeof raw !== 'object' || raw === null) return raw;
  const obj = raw as Record<string, unknown>;
  const jira = typeof obj.jira === 'object' && obj.jira !== null ? obj.jira : {};
  return { ...obj, jira: { ...jira, site: env.JIRA_BASE_URL } };
}

function checkJiraUrl(url: string, path: string, problems: { path: string; message: string }[]): void {
  const u = new URL(url);
  if (u.username || u.password) {
    // Named without its user info: every message that quoted it would carry the password.
    problems.push({ path, message: `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname} holds a user name or password before the @: remove it (Mailroom reaches Jira with the workaround token stored by \`mailroom token set\`; a password here would be printed and logged)` });
    return;
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(u.hostname);
  if (u.protocol === 'http:' && !loopback) {
    problems.push({ path, message: `${url} is plain http: Jira Cloud needs https:// (plain http is allowed only on loopback, for the simulator)` });
  } else if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    problems.push({ path, message: `${url} must be an https:// URL` });
  }
}

export function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): { path: string; message: string } {
  const path = formatPath(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      // `password: …` / `clientSecret: …`: the secret itself, where only its variable's name may stand.
      const secretKey = issue.keys.find((k) => /(password|secret|token)$/i.test(k));
      if (issue.keys.length === 1 && secretKey && path === 'jira') {
        return { path: `jira.${secretKey}`, message: `unknown key "${secretKey}": the Jira API token is never written in this file; store it with \`mailroom token set\` (read from standard input, kept encrypted)` };
      }
      if (issue.keys.length === 1 && secretKey) {
        return {
          path: [path, secretKey].filter(Boolean).join(path ? '.' : ''),
          message: `unknown key "${secretKey}": no secret is written in this file (it is printed and logged); give the name of the environment variable that holds it with ${secretKey}Env instead, and export the secret in that variable`,
        };
      }
      return {
        // One key: its own path. Several: the section that holds them (not the keys chained as one path).
        path: issue.keys.length === 1 ? [path, issue.keys[0]].filter(Boolean).join(path ? '.' : '') : path || '(root)',
        message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: remove or correct ${issue.keys.length > 1 ? 'them' : 'it'}`,
      };
    }
    case 'invalid_value':
      return { path, message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` };
    case 'invalid_union':
      return closestForm(issue) ?? { path, message: issue.message === 'Invalid input' ? 'does not match any of the accepted forms' : issue.message };
    case 'invalid_type': {
      if (!issue.message.startsWith('Invalid input')) return { path, message: issue.message };
      // `jira:` with nothing after it, its keys not indented under it; or a required key left out.
      const received = /received (\w+)$/.exec(issue.message)?.[1];
      if (!path && (received === 'null' || received === 'undefined')) return { path, message: 'the configuration is empty: copy mailroom.example.yml and edit it' };
      if (received === 'null') {
        return { path, message: issue.expected === 'object' ? 'has nothing under it: indent the keys that belong to it below it (two more spaces than its own line)' : `has no value: expected ${issue.expected}` };
      }
      if (received === 'undefined') return { path, message: `missing: add it (expected ${issue.expected})` };
      if (issue.expected === 'array' && received === 'object') return { path, message: 'expected a list: start each entry with "- " (e.g. "  - id: support")' };
      if (issue.expected === 'number' && received === 'string') return { path, message: 'expected a number: write it without quotes' };
      return { path, message: `expected ${issue.expected}` };
    }
    default:
      return { path, message: issue.message };
  }
}

/**
 * A value that fits one accepted form but for one problem (e.g. a deliver section for a project
 * with a bad `resolvedReply`): that problem, named by its own key, instead of "does not match".
 */
function closestForm(issue: z.core.$ZodIssue & { code: 'invalid_union' }): { path: string; message: string } | undefined {
  const branches = (issue.errors ?? []).filter((b) => b.length > 0);
  const best = branches.reduce<z.core.$ZodIssue[] | undefined>((a, b) => (!a || b.length < a.length ? b : a), undefined);
  if (!best || best.length !== 1 || branches.filter((b) => b.length === 1).length > 1) return undefined;
  return describeIssue({ ...best[0]!, path: [...issue.path, ...best[0]!.path] } as z.core.$ZodIssue);
}

/** The effective configuration with every secret masked, for `mailroom config check`. */
export function maskedConfig(c: Config): unknown {
  const mask = (v: string | undefined) => (v ? '****' : undefined);
  return {
    ...c,
    secrets: {
      imapPasswords: Object.fromEntries(Object.keys(c.secrets.imapPasswords).map((k) => [k, '****'])),
      smtpPassword: mask(c.secrets.smtpPassword),
      webhookSecret: mask(c.secrets.webhookSecret),
      // An auth block whose secrets this process does not hold shows none (config check notes them).
      oauth: Object.fromEntries(Object.entries(c.secrets.oauth ?? {}).filter(([, v]) => Object.values(v).some(Boolean)).map(([k]) => [k, '****'])),
    },
    secretKey: { base64: mask(c.secretKey.base64), file: c.secretKey.file },
    webAuth: { ...c.webAuth, password: mask(c.webAuth.password), readonlyPassword: mask(c.webAuth.readonlyPassword) },
    redis: describeTarget(c.redis),
    redisUrl: maskUrl(c.redisUrl),
  };
}

/** REDIS_URL for messages: the password masked wherever the URL holds it. */
export const maskRedisUrl = maskUrl;
