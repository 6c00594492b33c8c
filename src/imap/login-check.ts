// `mailroom mailboxes test ID`: obtain the mailbox's credential (an OAuth token, or the
// password), log in and look at the folder without selecting it, so a misconfigured app
// registration or password is found before mail is waiting. Each step says what it did.
import type { Config } from '../config/load.js';
import { describeError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { Redis } from '../core/redis.js';
import { tokenEndpoint } from '../oauth/grants.js';
import { imapTokenSource } from '../oauth/tokens.js';
import { imapClient } from './connect.js';
import { classifyImapFailure } from './failure.js';

export interface CheckStep {
  ok: boolean;
  what: string;
}

export async function checkMailboxLogin(
  config: Config,
  mailboxId: string,
  opts: { logger?: Logger; redis?: Redis } = {},
): Promise<CheckStep[]> {
  const { logger = silentLogger, redis } = opts;
  const mailbox = config.mailboxes.find((m) => m.id === mailboxId);
  if (!mailbox) return [{ ok: false, what: `no mailbox "${mailboxId}" in ${config.source} (known: ${config.mailboxes.map((m) => m.id).join(', ')})` }];
  const imap = mailbox.imap;
  if (!imap) return [{ ok: false, what: `mailbox "${mailboxId}" has no imap settings: nothing to log in to` }];
  const ctx = { host: imap.host, port: imap.port, user: imap.user, folder: imap.folder, oauth: imap.auth?.provider };
  const steps: CheckStep[] = [];
  let secret: string | { accessToken: string };
  const tokens = imapTokenSource(config, mailboxId, { logger, ...(redis ? { redis } : {}) });
  const index = config.mailboxes.indexOf(mailbox);
  const absent = (config.missingSecrets ?? []).find((m) => m.path.startsWith(`mailboxes[${index}].imap.auth.`));
  if (imap.auth && absent) return [{ ok: false, what: `${absent.path}: ${absent.message}` }];
  if (tokens && imap.auth) {
    const endpoint = new URL(tokenEndpoint(imap.auth, config.secrets.oauth?.[`imap:${mailboxId}`] ?? {}));
    try {
      secret = { accessToken: await tokens.get() };
      const until = tokens.refreshAt ? `, refreshed after ${new Date(tokens.refreshAt).toISOString()}` : '';
      steps.push({ ok: true, what: `obtained an access token from ${endpoint.host} (${imap.auth.provider})${until}` });
    } catch (e) {
      steps.push({ ok: false, what: classifyImapFailure(e, ctx).message });
      return steps;
    }
  } else {
    secret = config.secrets.imapPasswords[mailboxId] ?? '';
    steps.push({ ok: !!secret, what: secret ? `password from ${imap.passwordEnv}` : `no password: ${imap.passwordEnv} is not set` });
    if (!secret) return steps;
  }
  const client = imapClient(imap, secret, logger);
  client.on('error', () => undefined); // the failing command reports it
  try {
    await client.connect();
    steps.push({ ok: true, what: `logged in to ${imap.host}:${imap.port} as ${imap.user}${typeof secret === 'string' ? '' : ' with OAuth'}` });
    const status = await client.status(imap.folder, { messages: true, unseen: true });
    steps.push({ ok: true, what: `folder "${imap.folder}": ${status ? `${status.messages ?? '?'} messages, ${status.unseen ?? '?'} unseen` : 'opened'}` });
  } catch (e) {
    const f = classifyImapFailure(e, ctx);
    steps.push({ ok: false, what: f.kind === 'other' ? `${imap.host}: ${describeError(e)}` : f.message });
  } finally {
    await client.logout().catch(() => client.close());
  }
  return steps;
}
