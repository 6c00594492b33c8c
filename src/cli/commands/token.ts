// `mailroom token ...`: store, inspect, check, rotate and clear the workaround token.
// The token is read from standard input only: arguments end up in shell history and in every
// process listing on the machine.
import type { Command } from 'commander';
import { ms } from '../../config/duration.js';
import type { Config } from '../../config/load.js';
import { AuthError, describeError } from '../../core/errors.js';
import { createJiraClient } from '../../jira/index.js';
import type { Redis } from '../../core/redis.js';
import { checkRecord, checkToken, formatReport } from '../../token/check.js';
import { openTokenQueues, publish, readTokenState, resumeGate, type TokenState } from '../../token/gate.js';
import { daysLeft, maskToken, parseEmailInput, parseExpiresInput, parseTokenInput } from '../../token/input.js';
import { loadSecretKey, type SecretKey } from '../../token/key.js';
import { refuseOtherKey } from '../../token/key-guard.js';
import { clearToken, readTokenCredentials, readTokenMeta, saveToken, type TokenCredentials, type TokenMeta } from '../../token/store.js';
import { runTokenCheck } from '../../token/watch.js';
import { silentLogger } from '../../core/log.js';
import { createJiraReachRecorder, type JiraReachRecorder } from '../../jira/reach.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, err, inline, LAST_CELL_MAX, out, printJson } from '../output.js';
import { reachRedis } from '../redis-reach.js';

/** A token is a few hundred bytes; anything far larger on stdin is a mistake (a file piped in). */
const MAX_STDIN_BYTES = 16 * 1024;

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new CliError(
      'the token is read from standard input, and this is a terminal: type it without echo, then pipe it:\n' +
        '  read -rs TOKEN && printf %s "$TOKEN" | mailroom token set --email <account email>; unset TOKEN',
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    size += b.length;
    if (size > MAX_STDIN_BYTES) throw new CliError(`more than ${MAX_STDIN_BYTES} bytes on standard input: pipe only the token`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function secretKeyOf(config: Config): SecretKey {
  try {
    const k = loadSecretKey(config.secretKey);
    for (const w of k.warnings) err(`warning: ${w}`);
    return k;
  } catch (e) {
    throw new CliError(describeError(e), EXIT.usage);
  }
}

function clientFor(config: Config, creds: { email: string; token: string }, reach?: JiraReachRecorder) {
  return createJiraClient({
    baseUrl: config.jira.apiBase ?? config.jira.site,
    email: creds.email,
    token: creds.token,
    timeoutMs: ms(config.jira.timeout),
    logger: silentLogger,
    onResponse: reach ? (info) => reach.observe(info) : undefined,
  });
}

/** The CLI's Jira calls are real traffic too: they feed the shared reachability record. */
function reachRecorder(config: Config, redis: Redis): JiraReachRecorder {
  return createJiraReachRecorder({ redis, prefix: config.prefix, url: config.jira.apiBase ?? config.jira.site });
}

interface StoreOpts {
  email?: string;
  expires?: string;
  /** Seal with this key although the stored token was sealed with another (a deliberate key change). */
  newKey?: boolean;
}

/** set and rotate: validate live, store atomically, resume what the gate paused. */
async function storeToken(ctx: CliContext, opts: StoreOpts, mode: 'set' | 'rotate'): Promise<void> {
  const config = ctx.config();
  const redis = ctx.redis();
  const key = secretKeyOf(config);
  const previous = await readTokenMeta(redis, config.prefix);
  if (mode === 'rotate' && !previous) throw new CliError('no token is stored yet: use `mailroom token set`', EXIT.failed);
  try {
    refuseOtherKey(previous, key, !!opts.newKey);
  } catch (e) {
    throw new CliError(describeError(e), EXIT.usage);
  }
  const now = new Date();
  let email: string;
  let expiresAt: Date;
  let token: string;
  try {
    email = parseEmailInput(opts.email ?? previous?.email);
    expiresAt = parseExpiresInput(opts.expires, now);
    token = parseTokenInput(await readStdin());
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(describeError(e), EXIT.usage);
  }
  const reach = reachRecorder(config, redis);
  const report = await checkToken(clientFor(config, { email, token }, reach), config.mailboxes, now);
  await reach.flush();
  if (!report.account) {
    // Jira checks the email and the token together: a token given with another account's
    // email is refused like a bad token, so say both. Anything else means Jira could not be
    // asked (no answer, 5xx, a wrong URL): its own exit code, not Redis's 3.
    const hint = report.authFailed ? `; check that ${email} is the email of the account that created the token` : ` (Jira at ${config.jira.apiBase ?? config.jira.site})`;
    throw new CliError(`not stored: ${report.error ?? 'the token could not be checked'}${hint}`, report.authFailed ? EXIT.failed : EXIT.jiraUnavailable);
  }
  const me = report.account;
  if (me.emailAddress && me.emailAddress.toLowerCase() !== email) {
    throw new CliError(
      `not stored: the token belongs to ${me.emailAddress} (${me.displayName}), not ${email}: pass --email ${me.emailAddress}, or use a token of ${email}`,
      EXIT.usage,
    );
  }
  if (!me.active) throw new CliError(`not stored: the account ${me.displayName} is deactivated`, EXIT.failed);
  if (mode === 'rotate' && previous && previous.accountId !== me.accountId) {
    err(`note: the new token belongs to another account (${me.accountId}) than the old one (${previous.accountId})`);
  }
  const version = await saveToken(redis, config.prefix, key, {
    token,
    email,
    accountId: me.accountId,
    displayName: me.displayName,
    storedAt: now,
    expiresAt,
    check: checkRecord(report),
  });
  await publish(redis, config.prefix, { type: 'stored', version });
  const queues = openTokenQueues(redis, config.prefix);
  let resumed: string[];
  try {
    resumed = await resumeGate(redis, config.prefix, queues, `token ${mode === 'set' ? 'stored' : 'rotated'} (version ${version})`, now);
  } finally {
    await Promise.all(queues.map((q) => q.close()));
  }
  out(`${mode === 'set' ? 'stored' : 'rotated'}: token ${maskToken(token)} of ${inline(me.displayName)} <${inline(email)}>, expires ${expiresAt.toISOString().slice(0, 10)} (${daysLeft(expiresAt, now)} days), version ${version}`);
  for (const line of formatReport(report)) out(line);
  if (resumed.length) out(`resumed the queues paused for the token: ${resumed.join(', ')}`);
  if (!report.ok) {
    err('the token was stored, but it lacks what the configuration needs (see MISSING above)');
    process.exitCode = EXIT.failed;
  }
}

interface StatusView {
  stored: boolean;
  token?: string;
  account?: { email: string; accountId: string; displayName?: string };
  storedAt?: string;
  expiresAt?: string;
  daysLeft?: number;
  expired?: boolean;
  version?: number;
  readable: boolean;
  problem?: string;
  lastCheck?: TokenMeta['lastCheck'];
  gate: TokenState;
}

async function statusView(redis: Redis, config: Config, now: Date): Promise<StatusView> {
  const [meta, gate] = await Promise.all([readTokenMeta(redis, config.prefix), readTokenState(redis, config.prefix)]);
  if (!meta) return { stored: false, readable: false, problem: 'no token is stored: run `mailroom token set`', gate };
  let token: string | undefined;
  let problem: string | undefined;
  try {
    token = maskToken((await readTokenCredentials(redis, config.prefix, loadSecretKey(config.secretKey))).token);
  } catch (e) {
    problem = describeError(e);
  }
  const expires = new Date(meta.expiresAt);
  return {
    stored: true,
    token,
    account: { email: meta.email, accountId: meta.accountId, displayName: meta.displayName },
    storedAt: meta.storedAt,
    expiresAt: meta.expiresAt,
    daysLeft: daysLeft(expires, now),
    expired: expires.getTime() <= now.getTime(),
    version: meta.version,
    readable: token !== undefined,
    problem,
    lastCheck: meta.lastCheck,
    gate,
  };
}

function printStatus(v: StatusView): void {
  if (!v.stored) out('token:       none stored (run `mailroom token set`)');
  else {
    out(`token:       ${v.token ?? 'unreadable'} (version ${v.version})`);
    out(`account:     ${inline(v.account?.displayName)} <${inline(v.account?.email)}> ${inline(v.account?.accountId)}`);
    out(`stored:      ${v.storedAt}`);
    out(`expires:     ${v.expiresAt?.slice(0, 10)} (${v.expired ? 'EXPIRED' : `${v.daysLeft} days left`})`);
    if (v.lastCheck) {
      out(`last check:  ${v.lastCheck.at} ${v.lastCheck.ok ? 'ok' : 'NOT OK'}: ${inline(v.lastCheck.summary)}`);
      const perms = Object.entries(v.lastCheck.permissions);
      if (perms.length) out(`permissions: ${perms.map(([k, held]) => `${k}=${held ? 'yes' : 'no'}`).join(' ')}`);
    } else out('last check:  never');
  }
  if (v.problem && v.stored) out(`problem:     ${inline(v.problem)}`);
  if (v.gate.paused) {
    out(`queues:      PAUSED since ${v.gate.since}${v.gate.queue ? ` (first failure in ${v.gate.queue}${v.gate.jobId ? ` job ${inline(v.gate.jobId)}` : ''})` : ''}`);
    out(`  because:   ${inline(v.gate.reason ?? 'unknown')}`);
    out(`  paused:    ${v.gate.pausedQueues.join(', ') || '(none by the gate)'}`);
    out('  to resume: store a valid token with `mailroom token set` (or `token rotate`)');
  } else out('queues:      running');
}

export function register(program: Command, ctx: CliContext): void {
  const token = program
    .command('token')
    .description("the workaround user's API token: store, inspect, check, rotate, clear")
    .addHelpText('after', '\nExamples:\n  mailroom token status\n  printf %s "$TOKEN" | mailroom token set --email jira-bot@example.com\n  mailroom token check');
  storeCommands(token, ctx);
  statusCommand(token, ctx);
  checkCommand(token, ctx);
  clearCommand(token, ctx);
}

function storeCommands(token: Command, ctx: CliContext): void {
  token
    .command('set')
    .description('store the token read from stdin, after checking it against Jira (/myself, /mypermissions)')
    .requiredOption('--email <email>', "the workaround account's email (must match the token's account)")
    .option('--expires <YYYY-MM-DD>', 'expiry date shown when the token was created (default: 365 days from now)')
    .option('--new-key', 'seal with this key although the stored token was sealed with another (a deliberate key change: restart every role with the new key after)')
    .addHelpText(
      'after',
      '\nThe token is read from standard input, never from arguments.\nExamples:\n' +
        '  read -rs TOKEN && printf %s "$TOKEN" | mailroom token set --email jira-bot@example.com --expires 2027-11-01; unset TOKEN\n' +
        '  mailroom token set --email jira-bot@example.com < /run/secrets/jira-token',
    )
    .action((opts: StoreOpts) => storeToken(ctx, opts, 'set'));

  token
    .command('rotate')
    .description('replace the stored token atomically with one read from stdin (checked first); in-flight jobs finish on the old one or retry on the new')
    .option('--email <email>', 'the account email (default: the stored one)')
    .option('--expires <YYYY-MM-DD>', 'expiry date of the new token (default: 365 days from now)')
    .option('--new-key', 'seal with this key although the stored token was sealed with another (a deliberate key change: restart every role with the new key after)')
    .addHelpText('after', '\nExamples:\n  printf %s "$NEW_TOKEN" | mailroom token rotate --expires 2027-11-01\n  mailroom token rotate --email new-bot@example.com < /run/secrets/jira-token')
    .action((opts: StoreOpts) => storeToken(ctx, opts, 'rotate'));
}

function statusCommand(token: Command, ctx: CliContext): void {
  token
    .command('status')
    .description('the stored token (masked), its account, expiry, permissions, last check, and whether the queues are paused for it (exit 1 if not usable)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nReads Redis only: no request to Jira (see `token check`).\nExamples:\n  mailroom token status\n' +
        "  mailroom token status --json | jq -r '.expiresAt'\n  mailroom token status >/dev/null || echo 'token not usable'",
    )
    .action(async (opts: { json?: boolean }) => {
      const v = await statusView(await reachRedis(ctx), ctx.config(), new Date());
      if (opts.json) printJson(v);
      else printStatus(v);
      if (!v.stored || !v.readable || v.expired || v.gate.paused) process.exitCode = EXIT.failed;
    });
}

function checkCommand(token: Command, ctx: CliContext): void {
  token
    .command('check')
    .description('check the stored token against Jira now and record the result (exit 0 ok, 1 not, 4 Jira unreachable)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nCalls /myself and /mypermissions; a token that works again resumes the paused queues.\nExamples:\n' +
        '  mailroom token check\n  mailroom token check --json | jq .report\n  mailroom token check || alert "Mailroom\'s Jira token is refused"',
    )
    .action(async (opts: { json?: boolean }) => {
      const config = ctx.config();
      const key = secretKeyOf(config);
      // Redis away is exit 3, said once: not a token that "cannot be read" (exit 1, which
      // scripts take for a refused token).
      await reachRedis(ctx);
      const queues = openTokenQueues(ctx.redis(), config.prefix);
      const reach = reachRecorder(config, ctx.redis());
      try {
        const outcome = await runTokenCheck(
          { redis: ctx.redis(), config, secretKey: key, logger: silentLogger, makeClient: (c: TokenCredentials) => clientFor(config, c, reach) },
          queues,
        );
        await reach.flush();
        if (opts.json) printJson(outcome);
        else {
          if (outcome.problem) err(`mailroom: ${inline(outcome.problem, LAST_CELL_MAX)}`);
          if (outcome.report) for (const line of formatReport(outcome.report)) out(line);
          if (outcome.expiry) out(`expiry:      ${outcome.expiry.level === 'expired' ? 'EXPIRED' : `${outcome.expiry.daysLeft} days left${outcome.expiry.level === 'warn' ? ' (renew soon)' : ''}`}`);
          if (outcome.gate === 'tripped') out('paused the token queues: the token was refused');
          if (outcome.gate === 'resumed') out('resumed the token queues: the token works again');
        }
        const ok = !!outcome.report?.ok && outcome.expiry?.level !== 'expired';
        if (!ok) process.exitCode = outcome.report && !outcome.report.account && !outcome.report.authFailed ? EXIT.jiraUnavailable : EXIT.failed;
      } catch (e) {
        if (e instanceof AuthError) throw new CliError(describeError(e), EXIT.failed);
        throw e;
      } finally {
        await Promise.all(queues.map((q) => q.close()));
      }
    });
}

function clearCommand(token: Command, ctx: CliContext): void {
  token
    .command('clear')
    .description('remove the stored token (workers hold their jobs until a new one is stored)')
    .addHelpText(
      'after',
      '\nNothing is lost: jobs wait until `mailroom token set` stores a new token.\nExamples:\n' +
        '  mailroom token clear\n  mailroom --config /etc/mailroom.yml token clear && printf %s "$NEW_TOKEN" | mailroom token set --email jira-bot@example.com',
    )
    .action(async () => {
      const config = ctx.config();
      const removed = await clearToken(ctx.redis(), config.prefix);
      await publish(ctx.redis(), config.prefix, { type: 'cleared' });
      out(removed ? 'cleared: no workaround token is stored now' : 'no token was stored');
    });
}
