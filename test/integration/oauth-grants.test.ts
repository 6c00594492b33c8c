// The token requests Mailroom sends, against a local authorization server over real HTTP that
// accepts only the shapes Entra ID and Google document (test/helpers/oauth-server.ts): the
// Entra client-credentials grant with a secret or a certificate assertion, Google's JWT bearer
// grant with domain-wide delegation, and the generic client-credentials and refresh-token
// grants. Refusals come back as the provider's error plus what to grant; tokens are cached
// until shortly before they lapse.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, requireSecrets, type Config } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';
import { OAuthTokenError } from '../../src/oauth/errors.js';
import { requestToken } from '../../src/oauth/grants.js';
import { oauthKey } from '../../src/config/oauth-keys.js';
import { refreshKey } from '../../src/oauth/refresh-store.js';
import { createTokenSource, imapTokenSource } from '../../src/oauth/tokens.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { makeCertificate, makeServiceAccount } from '../helpers/oauth-keys.js';
import { startOAuthServer, type OAuthServer } from '../helpers/oauth-server.js';

const MAILBOX = 'support@contoso.example';
let server: OAuthServer;
let dir: string;
let cert: { certPem: string; keyPem: string };
let otherCert: { certPem: string; keyPem: string };
let sa: ReturnType<typeof makeServiceAccount>;

beforeAll(async () => {
  server = await startOAuthServer();
  dir = await mkdtemp(join(tmpdir(), 'mroauth-grants-'));
  [cert, otherCert] = await Promise.all([makeCertificate('registered'), makeCertificate('not-registered')]);
  await writeFile(join(dir, 'cert.pem'), cert.certPem);
  await writeFile(join(dir, 'key.pem'), cert.keyPem, { mode: 0o600 });
  await writeFile(join(dir, 'other-cert.pem'), otherCert.certPem);
  await writeFile(join(dir, 'other-key.pem'), otherCert.keyPem, { mode: 0o600 });
  sa = makeServiceAccount(`${server.url}/google/token`);
  await writeFile(join(dir, 'sa.json'), sa.json, { mode: 0o600 });
  server.entra.push({ tenant: 'contoso.onmicrosoft.com', clientId: 'app-1', secret: 'entra-secret-value', certificatePem: cert.certPem, mailbox: MAILBOX });
  server.google.push({ clientEmail: sa.clientEmail, privateKeyId: sa.privateKeyId, publicKeyPem: sa.publicKeyPem, delegatedUsers: [MAILBOX] });
  server.generic.push({ clientId: 'generic-1', secret: 'generic-secret', mailbox: MAILBOX });
  server.generic.push({ clientId: 'generic-rt', refreshToken: 'rt-initial', mailbox: MAILBOX });
});
afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A config with one OAuth mailbox, parsed the way `mailroom` parses its YAML. */
function configWith(auth: Record<string, unknown>, env: Record<string, string> = {}, user = MAILBOX): Config {
  return parseConfig(
    {
      jira: { site: 'http://127.0.0.1:1' },
      mailboxes: [{ id: 'support', imap: { host: '127.0.0.1', port: 1, tls: false, user, auth } }],
    },
    env,
  );
}

async function refusal(p: Promise<unknown>): Promise<OAuthTokenError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OAuthTokenError);
  return e as OAuthTokenError;
}

const entra = (extra: Record<string, unknown>) => ({
  provider: 'microsoft',
  tenantId: 'contoso.onmicrosoft.com',
  clientId: 'app-1',
  authority: server.url,
  ...extra,
});

describe('Microsoft Entra ID: client credentials', () => {
  it('with a client secret: posts client_id, scope .default, client_secret and grant_type, nothing else', async () => {
    const config = configWith(entra({ clientSecretEnv: 'ENTRA_SECRET' }), { ENTRA_SECRET: 'entra-secret-value' });
    const token = await imapTokenSource(config, 'support')!.get();
    expect(server.issued.find((t) => t.token === token)?.user).toBe(MAILBOX);
    const req = server.requests.at(-1)!;
    expect(req.path).toBe('/contoso.onmicrosoft.com/oauth2/v2.0/token');
    expect(req.form).toEqual({
      client_id: 'app-1',
      scope: 'https://outlook.office365.com/.default',
      grant_type: 'client_credentials',
      client_secret: 'entra-secret-value',
    });
  });

  it('with a certificate: a signed client assertion whose x5t names the certificate and whose aud is the endpoint', async () => {
    const config = configWith(entra({ certificate: { certificateFile: join(dir, 'cert.pem'), privateKeyFile: join(dir, 'key.pem') } }));
    const token = await imapTokenSource(config, 'support')!.get();
    expect(server.issued.find((t) => t.token === token)?.via).toBe('entra-cert');
    const req = server.requests.at(-1)!;
    expect(req.form.client_secret).toBeUndefined();
    expect(req.form.client_assertion_type).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const header = decodeProtectedHeader(req.form.client_assertion!);
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    const claims = decodeJwt(req.form.client_assertion!);
    expect(claims).toMatchObject({ iss: 'app-1', sub: 'app-1', aud: `${server.url}/contoso.onmicrosoft.com/oauth2/v2.0/token` });
    expect(typeof claims.jti).toBe('string');
  });

  it('a wrong secret is refused with its AADSTS code and what to fix; the secret itself is not in the message', async () => {
    const config = configWith(entra({ clientSecretEnv: 'ENTRA_SECRET' }), { ENTRA_SECRET: 'the-secret-id-not-its-value' });
    const e = await refusal(imapTokenSource(config, 'support')!.get());
    expect(e.refused).toBe(true);
    expect(e.aadsts).toBe(7000215);
    expect(e.message).toMatch(/Microsoft Entra ID refused a token for support@contoso\.example \(invalid_client: AADSTS7000215: Invalid client secret provided\.\)/);
    expect(e.message).toMatch(/Value .*not its Secret ID/);
    expect(e.message).not.toContain('the-secret-id-not-its-value');
    expect(e.message).not.toMatch(/Trace ID/);
  });

  it('a certificate the app does not know is refused with AADSTS700027 and the upload to do', async () => {
    const config = configWith(entra({ certificate: { certificateFile: join(dir, 'other-cert.pem'), privateKeyFile: join(dir, 'other-key.pem') } }));
    const e = await refusal(imapTokenSource(config, 'support')!.get());
    expect(e.aadsts).toBe(700027);
    expect(e.message).toMatch(/upload auth\.certificate\.certificateFile under Certificates & secrets/);
  });

  it('an unknown tenant or app says which id to check', async () => {
    const badTenant = await refusal(imapTokenSource(configWith(entra({ tenantId: 'fabrikam.example', clientSecretEnv: 'S' }), { S: 'x' }), 'support')!.get());
    expect(badTenant.message).toMatch(/AADSTS90002.*check auth\.tenantId/);
    const badApp = await refusal(imapTokenSource(configWith(entra({ clientId: 'app-2', clientSecretEnv: 'S' }), { S: 'x' }), 'support')!.get());
    expect(badApp.message).toMatch(/AADSTS700016.*check auth\.clientId and auth\.tenantId/);
  });

  it('a key that does not belong to the certificate is a configuration error, before any request', () => {
    expect(() => configWith(entra({ certificate: { certificateFile: join(dir, 'cert.pem'), privateKeyFile: join(dir, 'other-key.pem') } }))).toThrow(
      /mailboxes\[0\]\.imap\.auth\.certificate: the private key does not belong to the certificate/,
    );
  });
});

describe('Google Workspace: service account JWT bearer with domain-wide delegation', () => {
  it('signs iss = the service account, sub = the mailbox, scope https://mail.google.com/, aud = token_uri, at most an hour', async () => {
    const config = configWith({ provider: 'google', serviceAccountKeyFile: join(dir, 'sa.json') });
    const token = await imapTokenSource(config, 'support')!.get();
    expect(server.issued.find((t) => t.token === token)?.user).toBe(MAILBOX);
    const req = server.requests.at(-1)!;
    expect(req.path).toBe('/google/token');
    expect(Object.keys(req.form).sort()).toEqual(['assertion', 'grant_type']);
    expect(req.form.grant_type).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    expect(decodeProtectedHeader(req.form.assertion!)).toMatchObject({ alg: 'RS256', kid: sa.privateKeyId });
    const claims = decodeJwt(req.form.assertion!);
    expect(claims).toMatchObject({ iss: sa.clientEmail, sub: MAILBOX, scope: 'https://mail.google.com/', aud: `${server.url}/google/token` });
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(3600);
  });

  it('the key may come from an environment variable instead of a file', async () => {
    const config = configWith({ provider: 'google', serviceAccountKeyEnv: 'GOOGLE_SA_JSON' }, { GOOGLE_SA_JSON: sa.json });
    await expect(imapTokenSource(config, 'support')!.get()).resolves.toMatch(/^at-google-/);
  });

  it('a user the delegation does not cover is refused with the Admin console step to take', async () => {
    const config = configWith({ provider: 'google', serviceAccountKeyFile: join(dir, 'sa.json') }, {}, 'other@contoso.example');
    const e = await refusal(imapTokenSource(config, 'support')!.get());
    expect(e.refused).toBe(true);
    expect(e.message).toMatch(/Google refused a token for other@contoso\.example \(unauthorized_client: Client is unauthorized/);
    expect(e.message).toMatch(/Manage domain-wide delegation.*https:\/\/mail\.google\.com\//);
  });

  it('a file that is not a service account key is a configuration error naming the key path', async () => {
    await writeFile(join(dir, 'not-sa.json'), JSON.stringify({ installed: { client_id: 'x' } }));
    const e = (() => {
      try {
        configWith({ provider: 'google', serviceAccountKeyFile: join(dir, 'not-sa.json') });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).problems[0]!.path).toBe('mailboxes[0].imap.auth.serviceAccountKeyFile');
  });
});

describe('Google service account key: token_uri', () => {
  const refusalOf = (tokenUri: string, extra: Record<string, unknown> = {}) => {
    const file = join(dir, `sa-${createHash('sha256').update(tokenUri).digest('hex').slice(0, 8)}.json`);
    writeFileSync(file, makeServiceAccount(tokenUri).json);
    try {
      configWith({ provider: 'google', serviceAccountKeyFile: file, ...extra });
      return undefined;
    } catch (err) {
      return err as ConfigError;
    }
  };

  it('refuses a plain-http token_uri off loopback: the signed assertion would go in clear (issue 23)', () => {
    const e = refusalOf('http://oauth2.evil.example/token');
    expect(e).toBeInstanceOf(ConfigError);
    expect(e!.problems[0]!.path).toBe('mailboxes[0].imap.auth.serviceAccountKeyFile');
    expect(e!.problems[0]!.message).toMatch(/token_uri http:\/\/oauth2\.evil\.example\/token is not https/);
  });

  it('takes https, loopback http, and a key whose token_uri a configured tokenUrl overrides', () => {
    expect(refusalOf('https://oauth2.googleapis.com/token')).toBeUndefined();
    expect(refusalOf('http://127.0.0.1:9/token')).toBeUndefined();
    expect(refusalOf('http://oauth2.evil.example/token2', { tokenUrl: 'https://oauth2.googleapis.com/token' })).toBeUndefined();
  });
});

describe('generic token endpoint', () => {
  it('client credentials with HTTP Basic client authentication', async () => {
    const config = configWith({ provider: 'oauth2', tokenUrl: `${server.url}/token`, clientId: 'generic-1', clientSecretEnv: 'G', clientAuth: 'basic', scope: 'imap' }, { G: 'generic-secret' });
    await expect(imapTokenSource(config, 'support')!.get()).resolves.toMatch(/^at-generic-/);
    const req = server.requests.at(-1)!;
    expect(req.form).toEqual({ grant_type: 'client_credentials', scope: 'imap' });
    expect(req.authorization).toBe(`Basic ${Buffer.from('generic-1:generic-secret').toString('base64')}`);
  });

  it('refresh token: a rotated refresh token replaces the configured one for the next refresh', async () => {
    const config = configWith({ provider: 'oauth2', tokenUrl: `${server.url}/token`, clientId: 'generic-rt', refreshTokenEnv: 'RT' }, { RT: 'rt-initial' });
    let clock = Date.now();
    const source = createTokenSource(config.mailboxes[0]!.imap!.auth!, config.secrets.oauth![oauthKey.imap('support')]!, { user: MAILBOX, now: () => clock });
    await source.get();
    expect(server.requests.at(-1)!.form.refresh_token).toBe('rt-initial');
    clock += 3600_000;
    await source.get();
    // The server rotated it: the initial one would now be refused.
    expect(server.requests.at(-1)!.form.refresh_token).not.toBe('rt-initial');
    expect(server.requests.at(-1)!.form.refresh_token).toMatch(/^rt-/);
  });

  it('a revoked refresh token is refused with what to do', async () => {
    const config = configWith({ provider: 'oauth2', tokenUrl: `${server.url}/token`, clientId: 'generic-rt', refreshTokenEnv: 'RT' }, { RT: 'rt-revoked' });
    const e = await refusal(imapTokenSource(config, 'support')!.get());
    expect(e.message).toMatch(/invalid_grant.*obtain a new one and put it in the environment variable named by auth\.refreshTokenEnv/);
  });

  it('an unreachable token endpoint is not a refusal: the mailbox retries instead of parking', async () => {
    const config = configWith({ provider: 'oauth2', tokenUrl: 'http://127.0.0.1:1/token', clientId: 'generic-1', clientSecretEnv: 'G' }, { G: 'generic-secret' });
    const e = await refusal(imapTokenSource(config, 'support')!.get());
    expect(e.refused).toBe(false);
    expect(e.message).toMatch(/cannot get a token for support@contoso\.example: 127\.0\.0\.1:1 unreachable/);
  });
});

describe('rotated refresh tokens in Redis', () => {
  const redis = testRedis();
  const prefix = uniquePrefix('oauth-refresh');
  const secretKey = randomBytes(32).toString('base64');
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('survive a restart, sealed; a new refresh token in the environment starts a new chain', async () => {
    server.generic.push({ clientId: 'rotating', refreshToken: 'rt-env-1', mailbox: MAILBOX });
    const start = (envToken: string) => {
      const config = { ...configWith({ provider: 'oauth2', tokenUrl: `${server.url}/token`, clientId: 'rotating', refreshTokenEnv: 'RT' }, { RT: envToken, MAILROOM_SECRET_KEY: secretKey }), prefix };
      return imapTokenSource(config, 'support', { redis })!;
    };
    const sent = () => server.requests.filter((r) => r.form.client_id === 'rotating').at(-1)!.form.refresh_token;
    await start('rt-env-1').get();
    expect(sent()).toBe('rt-env-1');
    const rotated = server.generic.find((g) => g.clientId === 'rotating')!.refreshToken!;
    const stored = await redis.get(refreshKey(prefix, oauthKey.imap('support')));
    expect(stored).toBeTruthy();
    expect(stored).not.toContain(rotated);

    // A restart (a new config, a new source): the environment's token was used up; the stored one works.
    await start('rt-env-1').get();
    expect(sent()).toBe(rotated);

    // The operator puts a freshly issued refresh token in the environment: it wins over the old chain.
    server.generic.find((g) => g.clientId === 'rotating')!.refreshToken = 'rt-env-2';
    await start('rt-env-2').get();
    expect(sent()).toBe('rt-env-2');
  });
});

describe('token cache', () => {
  const auth = { provider: 'oauth2' as const, tokenUrl: '', clientId: 'generic-1', clientAuth: 'body' as const };

  it('reuses a token until shortly before it lapses, then asks again; concurrent callers share one request', async () => {
    let clock = 1_000_000;
    let requests = 0;
    const source = createTokenSource({ ...auth, tokenUrl: `${server.url}/token` }, { clientSecret: 'generic-secret' }, {
      user: MAILBOX,
      now: () => clock,
      request: async (a, s, o) => {
        requests++;
        return requestToken(a, s, o);
      },
    });
    const [a, b] = await Promise.all([source.get(), source.get()]);
    expect(a).toBe(b);
    expect(requests).toBe(1);
    // Server tokens live an hour here: the refresh point is five minutes before the end.
    clock += 54 * 60_000;
    expect(await source.get()).toBe(a);
    clock += 2 * 60_000;
    const c = await source.get();
    expect(c).not.toBe(a);
    expect(requests).toBe(2);
    source.invalidate();
    expect(await source.get()).not.toBe(c);
    expect(requests).toBe(3);
  });

  it('a failed request is not cached: the next call asks again', async () => {
    let calls = 0;
    const source = createTokenSource({ ...auth, tokenUrl: `${server.url}/token` }, { clientSecret: 'wrong' }, {
      user: MAILBOX,
      request: async (a, s, o) => {
        calls++;
        return requestToken(a, s, o);
      },
    });
    await refusal(source.get());
    await refusal(source.get());
    expect(calls).toBe(2);
  });
});

describe('configuration', () => {
  it('a mailbox needs exactly one of a password or OAuth', () => {
    const both = () =>
      parseConfig(
        { jira: { site: 'http://127.0.0.1:1' }, mailboxes: [{ id: 's', imap: { host: 'h', user: 'u', passwordEnv: 'P', auth: { provider: 'oauth2', tokenUrl: 'https://t.example/token', clientId: 'c', clientSecretEnv: 'S' } } }] },
        { P: 'x', S: 'y' },
      );
    expect(both).toThrow(/mailboxes\[0\]\.imap\.passwordEnv: set exactly one of passwordEnv \(a password\) or auth \(OAuth 2\.0\)/);
    const neither = () => parseConfig({ jira: { site: 'http://127.0.0.1:1' }, mailboxes: [{ id: 's', imap: { host: 'h', user: 'u' } }] }, {});
    expect(neither).toThrow(/set exactly one of passwordEnv/);
  });

  it('a missing secret names the key and the variable, to the poller only; a plain-http token endpoint off loopback is refused', () => {
    // The resolver, `status` and `token set` run without the mailbox's OAuth secret (systemd hands it to the poller alone).
    const c = configWith(entra({ clientSecretEnv: 'ENTRA_SECRET' }), {});
    expect(() => requireSecrets(c, 'web', 'notifier')).not.toThrow();
    expect(() => requireSecrets(c, 'poller')).toThrow(/mailboxes\[0\]\.imap\.auth\.clientSecretEnv: environment variable ENTRA_SECRET is not set/);
    const keyFile = configWith({ provider: 'google', serviceAccountKeyFile: join(tmpdir(), 'no-such-mailroom-sa.json') }, {});
    expect(() => requireSecrets(keyFile, 'poller')).toThrow(/serviceAccountKeyFile: cannot read the service account key .*it does not exist/);
    expect(() => configWith({ provider: 'oauth2', tokenUrl: 'http://idp.example/token', clientId: 'c', clientSecretEnv: 'S' }, { S: 'x' })).toThrow(
      /mailboxes\[0\]\.imap\.auth\.tokenUrl: must be https:\/\//,
    );
  });
});
