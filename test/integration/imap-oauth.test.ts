// The poller logging in with OAuth 2.0 against a real Dovecot whose oauth2 passdb checks each
// token by introspection at a local authorization server (test/helpers/oauth-server.ts), with
// real Redis. One Dovecot offers only XOAUTH2 and one only OAUTHBEARER, so imapflow has to use
// each. Before a token lapses the reader logs in again with a new one, without losing or
// repeating a mail; a revoked grant parks the mailbox with the provider's error.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig, type Config } from '../../src/config/load.js';
import { checkMailboxLogin } from '../../src/imap/login-check.js';
import { readHeartbeats } from '../../src/imap/heartbeat.js';
import { startPoller, type Poller } from '../../src/imap/poller.js';
import { createLogger } from '../../src/core/log.js';
import { createMailStore } from '../../src/mail/store.js';
import { mailInbound } from '../../src/queues/catalog.js';
import { notice } from '../helpers/corpus.js';
import { dovecotUnavailable, startDovecot, testMail, waitFor, type Dovecot } from '../helpers/dovecot.js';
import { makeServiceAccount } from '../helpers/oauth-keys.js';
import { startOAuthServer, type OAuthServer } from '../helpers/oauth-server.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const why = dovecotUnavailable();
if (why) notice(`IMAP OAuth tests skipped: ${why}`);

const SUPPORT = 'support@example.test';
const EXPIRY = 'expiry@example.test';
const REVOKED = 'revoked@example.test';
const ALL_STATES = ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'waiting-children'] as const;

describe.skipIf(!!why)('IMAP with OAuth 2.0 (Dovecot oauth2 passdb)', () => {
  const prefix = uniquePrefix('imap-oauth');
  const redis = testRedis();
  let oauth: OAuthServer;
  let xoauth2: Dovecot;
  let oauthbearer: Dovecot;
  let storeDir: string;
  let queue: Queue;
  let poller: Poller;
  const logLines: string[] = [];
  let raw: Record<string, unknown>;
  let env: Record<string, string>;
  let config: Config;

  beforeAll(async () => {
    oauth = await startOAuthServer();
    const introspectionUrl = `${oauth.url}/introspect`;
    const users = [SUPPORT, EXPIRY, REVOKED].map((user) => ({ user, password: 'only-for-appending' }));
    [xoauth2, oauthbearer] = await Promise.all([
      startDovecot({ users, oauth: { introspectionUrl, mechanisms: ['xoauth2'] } }),
      startDovecot({ users: users.slice(0, 1), oauth: { introspectionUrl, mechanisms: ['oauthbearer'] } }),
    ]);
    storeDir = await mkdtemp(join(tmpdir(), 'mrstore-oauth-'));
    queue = new Queue(mailInbound.name, { connection: redis, prefix });

    oauth.entra.push({ tenant: 'example.test', clientId: 'mailroom-app', secret: 'entra-client-secret', mailbox: SUPPORT });
    const sa = makeServiceAccount(`${oauth.url}/google/token`);
    oauth.google.push({ clientEmail: sa.clientEmail, privateKeyId: sa.privateKeyId, publicKeyPem: sa.publicKeyPem, delegatedUsers: [SUPPORT] });
    oauth.generic.push({ clientId: 'expiry-client', secret: 'expiry-secret', mailbox: EXPIRY });
    oauth.generic.push({ clientId: 'revoked-client', secret: 'revoked-secret', mailbox: REVOKED });
    // Short enough to lapse during the test; the poller refreshes a fifth of a lifetime early.
    oauth.ttlByUser.set(EXPIRY, 6);

    const imap = (d: Dovecot, user: string, auth: Record<string, unknown>) => ({ host: d.host, port: d.port, tls: false, user, auth });
    const generic = (clientId: string, env: string) => ({ provider: 'oauth2', tokenUrl: `${oauth.url}/token`, clientId, clientSecretEnv: env });
    raw = {
      jira: { site: 'http://127.0.0.1:1' },
      store: { kind: 'redis' },
      mailboxes: [
        { id: 'ms', imap: imap(xoauth2, SUPPORT, { provider: 'microsoft', tenantId: 'example.test', clientId: 'mailroom-app', clientSecretEnv: 'ENTRA_SECRET', authority: oauth.url }), after: { action: 'none' } },
        { id: 'gw', imap: imap(oauthbearer, SUPPORT, { provider: 'google', serviceAccountKeyEnv: 'GOOGLE_SA' }), after: { action: 'none' } },
        { id: 'expiry', imap: imap(xoauth2, EXPIRY, generic('expiry-client', 'EXPIRY_SECRET')), after: { action: 'none' } },
        { id: 'revoked', imap: imap(xoauth2, REVOKED, generic('revoked-client', 'REVOKED_SECRET')), after: { action: 'none' } },
      ],
      poller: { lockTtl: '3s', reconnectMin: '200ms', reconnectMax: '1s', authFailuresToPark: 2, parkedRetry: '10m' },
      log: { level: 'debug' },
    };
    env = { ENTRA_SECRET: 'entra-client-secret', GOOGLE_SA: sa.json, EXPIRY_SECRET: 'expiry-secret', REVOKED_SECRET: 'revoked-secret' };
    config = { ...parseConfig(raw, env), prefix };
    const logger = createLogger({ level: 'debug', destination: { write: (l: string) => void logLines.push(l) } });
    poller = startPoller({ config, redis, store: createMailStore(config, redis), logger, settings: { heartbeatIntervalMs: 300 } });
  });

  afterAll(async () => {
    await poller?.stop();
    await queue?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await Promise.all([xoauth2?.stop(), oauthbearer?.stop()]);
    await oauth?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  /** Message-IDs of one mailbox's jobs, with how often each occurs. */
  async function jobsOf(mailboxId: string): Promise<Map<string, number>> {
    const jobs = await queue.getJobs([...ALL_STATES], 0, -1);
    const counts = new Map<string, number>();
    for (const j of jobs) {
      if (!j.id?.startsWith(`${mailboxId}:`)) continue;
      const id = (j.data as { record: { messageId?: string } }).record.messageId ?? `(none:${j.id})`;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  const ids = (names: string[]) => names.map((n) => `<test-${n}@mailroom.test>`);
  const heartbeat = async (id: string) => (await readHeartbeats(redis, prefix)).find((h) => h.mailboxId === id);
  const exactly = async (mailboxId: string, names: string[]) => {
    await waitFor(`${names.length} mails of ${mailboxId}`, async () => (await jobsOf(mailboxId)).size >= names.length);
    const counts = await jobsOf(mailboxId);
    expect([...counts.keys()].sort()).toEqual(ids(names).sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  };

  it('reads mail through XOAUTH2 with an Entra ID app-only token', async () => {
    await xoauth2.appendRaw(testMail('ms-1'), { user: SUPPORT });
    await xoauth2.appendRaw(testMail('ms-2'), { user: SUPPORT });
    await exactly('ms', ['ms-1', 'ms-2']);
    const log = await readFile(join(xoauth2.dir, 'dovecot.log'), 'utf8');
    expect(log).toMatch(/Login: user=<support@example\.test>, method=XOAUTH2/);
    expect(oauth.requests.some((r) => r.path === '/example.test/oauth2/v2.0/token')).toBe(true);
  });

  it('reads mail through OAUTHBEARER with a Google service account token', async () => {
    await oauthbearer.appendRaw(testMail('gw-1'), { user: SUPPORT });
    await exactly('gw', ['gw-1']);
    const log = await readFile(join(oauthbearer.dir, 'dovecot.log'), 'utf8');
    expect(log).toMatch(/Login: user=<support@example\.test>, method=OAUTHBEARER/);
  });

  it('logs in again with a new token before the old one lapses, and after a kick: nothing lost, nothing read twice', async () => {
    for (const n of ['exp-1', 'exp-2', 'exp-3']) await xoauth2.appendRaw(testMail(n), { user: EXPIRY });
    await exactly('expiry', ['exp-1', 'exp-2', 'exp-3']);
    // Tokens live 6 s here: the reader ends its session and logs in with a new one before each lapses.
    const issued = () => oauth.issued.filter((t) => t.user === EXPIRY);
    await waitFor('a second token', async () => issued().length >= 2);
    await xoauth2.appendRaw(testMail('exp-4'), { user: EXPIRY });
    await exactly('expiry', ['exp-1', 'exp-2', 'exp-3', 'exp-4']);
    // The server ends the session on its own (as Exchange Online does at token expiry); mail keeps coming.
    await xoauth2.kick(EXPIRY);
    for (const n of ['exp-5', 'exp-6']) await xoauth2.appendRaw(testMail(n), { user: EXPIRY });
    await exactly('expiry', ['exp-1', 'exp-2', 'exp-3', 'exp-4', 'exp-5', 'exp-6']);
    // Dovecot was never shown a lapsed token (a live one may serve several logins).
    const tokens = new Set(issued().map((t) => t.token));
    const shown = oauth.introspections.filter((i) => tokens.has(i.token));
    expect(shown.length).toBeGreaterThanOrEqual(3);
    expect(shown.every((i) => i.active)).toBe(true);
    const log = await readFile(join(xoauth2.dir, 'dovecot.log'), 'utf8');
    expect(log).not.toMatch(/expiry@example\.test.*(auth failed|Authentication failed)/i);
    expect((await heartbeat('expiry'))?.state).not.toBe('parked');
  });

  it('a revoked grant parks the mailbox with the provider\'s error; the mail stays on the server', async () => {
    await xoauth2.appendRaw(testMail('rev-1'), { user: REVOKED });
    await exactly('revoked', ['rev-1']);
    oauth.revoke(REVOKED);
    // The session that read rev-1 ends (the server's kick) before rev-2 arrives: a session still
    // logged in may read new mail (a revoked grant stops the next login, not a live session), and
    // the poller looks every 100 ms for two seconds after reading mail (reader-deps.ts).
    await xoauth2.kick(REVOKED);
    await xoauth2.appendRaw(testMail('rev-2'), { user: REVOKED });
    const hb = await waitFor('revoked parked', async () => {
      const h = await heartbeat('revoked');
      return h?.state === 'parked' ? h : undefined;
    });
    expect(hb.lastError).toMatch(/the token endpoint refused a token for revoked@example\.test \(invalid_grant: access for revoked@example\.test was revoked\)/);
    // The refused token was dropped and a new one asked for, rather than the dead one retried.
    expect(oauth.requests.filter((r) => r.form.client_id === 'revoked-client').length).toBeGreaterThanOrEqual(2);
    // rev-2 is not enqueued, and not lost either: it waits in the mailbox for a working grant.
    expect([...(await jobsOf('revoked')).keys()]).toEqual(ids(['rev-1']));
    const c = await xoauth2.client(REVOKED);
    try {
      const status = await c.status('INBOX', { messages: true });
      expect(status && status.messages).toBe(2);
    } finally {
      await c.logout();
    }
  });

  it('`mailroom mailboxes test` obtains a token and logs in; on a revoked grant it names the provider\'s error', async () => {
    const root = resolve(import.meta.dirname, '..', '..');
    const configPath = join(storeDir, 'mailroom.yml');
    await writeFile(configPath, stringify(raw));
    const cli = await promisify(execFile)(process.execPath, [join(root, 'bin', 'mailroom.js'), '--config', configPath, 'mailboxes', 'test', 'ms'], {
      cwd: root,
      env: { ...process.env, ...env, MAILROOM_PREFIX: prefix, MAILROOM_FROM_SOURCE: '1' },
    });
    expect(cli.stdout).toMatch(/^ok {4}obtained an access token from 127\.0\.0\.1:\d+ \(microsoft\)/m);
    expect(cli.stdout).toMatch(/^ok {4}logged in to 127\.0\.0\.1:\d+ as support@example\.test with OAuth$/m);
    expect(cli.stdout).toMatch(/^ok {4}folder "INBOX": 2 messages/m);
    expect(cli.stdout).not.toContain('entra-client-secret');

    const revoked = await checkMailboxLogin({ ...parseConfig(raw, env), prefix }, 'revoked');
    expect(revoked).toEqual([{ ok: false, what: expect.stringMatching(/refused a token for revoked@example\.test \(invalid_grant/) }]);
  });

  it('never logs a client secret, a private key or an access token, even at debug level', () => {
    const text = logLines.join('');
    expect(text).toMatch(/obtained an OAuth access token/);
    for (const secret of ['entra-client-secret', 'expiry-secret', 'revoked-secret', 'PRIVATE KEY', ...oauth.issued.map((t) => t.token)]) {
      expect(text).not.toContain(secret);
    }
  });
});
