import type { Command } from 'commander';
import { maskedConfig, type Config } from '../../config/load.js';
import { notifyGroupOverlaps } from '../../config/notify-overlap.js';
import { describeError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import { unreadableVerdicts } from '../../mail/sender-trust.js';
import { checkConfigOnline, JiraUnreachableError, type OnlineReport } from '../../ops/config-online.js';
import type { CliContext } from '../context.js';
import { reachRedis } from '../redis-reach.js';
import { CliError, EXIT, err, inline, out, printJson, table } from '../output.js';
import { stringify } from 'yaml';

export function register(program: Command, ctx: CliContext): void {
  const config = program
    .command('config')
    .description('inspect the configuration')
    .addHelpText('after', '\nExamples:\n  mailroom config check\n  MAILROOM_CONFIG=/etc/mailroom.yml mailroom config check --json');
  config
    .command('check')
    .description('validate the configuration and print it with secrets masked (exit 2 and every problem if invalid); --online also checks against Jira what it names')
    .option('--json', 'print JSON instead of YAML')
    .option('--online', 'check against Jira, with the stored token, the projects, issue types, groups, service desks, request types and the token permissions the configuration names')
    .addHelpText(
      'after',
      `
With --online: one line per thing checked, under its key path. Needs Redis (the stored token)
and the token key (MAILROOM_SECRET_KEY or MAILROOM_SECRET_KEY_FILE).
Exit code: 0 all found, 1 something named is missing or a permission is not held, 2 bad
configuration or key, 3 Redis unreachable, 4 Jira did not answer.

Examples:
  mailroom config check
  mailroom --config /etc/mailroom.yml config check --json
  mailroom config check --online
  mailroom config check --online --json | jq '.findings[] | select(.ok | not)'`,
    )
    .action(async (opts: { json?: boolean; online?: boolean }) => {
      if (opts.online) {
        await online(ctx, !!opts.json);
        return;
      }
      const masked = maskedConfig(ctx.config());
      if (opts.json) printJson(masked);
      else out(`# effective configuration from ${ctx.config().source} (secrets masked)\n` + stringify(masked));
      // Not an error here: only the named role needs the secret, and refuses to start without it.
      for (const m of ctx.config().missingSecrets) err(`note: ${m.path}: ${m.message} (the ${m.role} role will not start without it)`);
      for (const w of notifyGroupOverlaps(ctx.config())) err(`warning: ${w.path}: ${w.message}`);
      for (const w of unreadableVerdicts(ctx.config().mailboxes)) err(`WARNING: ${w}`);
    });
}

async function online(ctx: CliContext, json: boolean): Promise<void> {
  const config = ctx.config();
  const redis = await reachRedis(ctx);
  // Loaded on demand: the offline check needs neither the token layer nor the Jira client.
  const [{ loadSecretKey }, { loadTokenCredentials }, { jiraClientFactory }, { WrongKeyError }] = await Promise.all([
    import('../../token/key.js'),
    import('../../token/source.js'),
    import('../../token/runtime.js'),
    import('../../token/crypto.js'),
    import('../../jira/client.js'),
  ]);
  let secretKey;
  try {
    secretKey = loadSecretKey(config.secretKey);
  } catch (e) {
    throw new CliError(describeError(e), EXIT.usage);
  }
  let creds;
  try {
    creds = await loadTokenCredentials(redis, config, secretKey);
  } catch (e) {
    // The wrong key is a configuration problem (exit 2, as the README's exit codes say), not a missing token.
    throw new CliError(`cannot check online: ${describeError(e)}`, e instanceof WrongKeyError ? EXIT.usage : EXIT.failed);
  }
  // The workers' own client: behind the shared Retry-After gate, feeding Jira reachability.
  const client = jiraClientFactory(config, silentLogger, redis)(creds);
  let report: OnlineReport;
  try {
    report = await checkConfigOnline(client, config);
  } catch (e) {
    if (e instanceof JiraUnreachableError) throw new CliError(`Jira at ${jiraUrl(config)} did not answer: ${e.message}`, EXIT.jiraUnavailable);
    throw e;
  }
  process.exitCode = report.ok ? EXIT.ok : EXIT.failed;
  if (json) {
    printJson({ source: config.source, jira: jiraUrl(config), ok: report.ok, findings: report.findings });
    return;
  }
  out(`# ${config.source} against ${jiraUrl(config)} as ${inline(report.token.account?.displayName ?? creds.email)}`);
  out(table(['RESULT', 'KEY', 'DETAIL'], report.findings.map((f) => [f.level === 'ok' ? 'ok' : f.level === 'warning' ? 'WARNING' : 'MISSING', f.path, f.detail])));
  const problems = report.findings.filter((f) => f.level === 'error').length;
  out(problems ? `${problems} problem(s): fix the keys marked MISSING` : 'everything the configuration names exists in Jira');
}

function jiraUrl(config: Config): string {
  return config.jira.apiBase ?? config.jira.site;
}
