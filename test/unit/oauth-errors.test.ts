// OAuth failures in words: the provider's error (the AADSTS code for Entra ID), what to grant
// or fix, refused (parks like a wrong password) versus unavailable (retried). Table tests.
import { describe, expect, it } from 'vitest';
import { classifyImapFailure } from '../../src/imap/failure.js';
import { OAuthTokenError, aadstsCode, describeTokenRefusal, shortDescription } from '../../src/oauth/errors.js';
import { refreshMargin } from '../../src/oauth/tokens.js';

const entra = (code: number, error = 'invalid_client') => ({
  error,
  error_description: `AADSTS${code}: Something happened.\r\nTrace ID: abc Correlation ID: def Timestamp: 2026-12-01 08:00:00Z`,
  error_codes: [code],
});

describe('describeTokenRefusal', () => {
  it.each([
    ['microsoft', 401, entra(7000215), true, /AADSTS7000215: Something happened\.\): the client secret is wrong/],
    ['microsoft', 401, entra(7000222), true, /client secret has expired: create a new one/],
    ['microsoft', 400, entra(700016, 'unauthorized_client'), true, /check auth\.clientId and auth\.tenantId/],
    ['microsoft', 400, entra(90002, 'invalid_request'), true, /no such tenant: check auth\.tenantId/],
    ['microsoft', 401, entra(700027), true, /upload auth\.certificate\.certificateFile/],
    ['microsoft', 400, entra(1002012, 'invalid_scope'), true, /use https:\/\/outlook\.office365\.com\/\.default/],
    ['microsoft', 400, entra(99999), true, /check the app registration/],
    ['microsoft', 503, { error: 'temporarily_unavailable', error_description: 'AADSTS90033: busy' }, false, /could not issue a token .* right now .*will retry/],
    ['google', 401, { error: 'unauthorized_client', error_description: 'Client is unauthorized' }, true, /Manage domain-wide delegation/],
    ['google', 400, { error: 'invalid_grant', error_description: 'Invalid email or User ID' }, true, /not a user of the Workspace domain/],
    ['google', 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }, true, /create a new JSON key/],
    ['oauth2', 400, { error: 'invalid_grant' }, true, /refresh token is expired or revoked/],
    ['oauth2', 401, { error: 'invalid_client' }, true, /client ID or client secret is wrong/],
    ['oauth2', 429, { error: 'slow_down' }, false, /right now/],
    ['oauth2', 502, {}, false, /\(HTTP 502\)/],
  ] as const)('%s %i %j', (provider, status, body, refused, message) => {
    const e = describeTokenRefusal(provider, status, body, 'support@example.com');
    expect(e.refused).toBe(refused);
    expect(e.message).toMatch(message);
    expect(e.message).not.toMatch(/Trace ID|Correlation/);
  });

  it('reads the AADSTS code from error_codes, or from the description', () => {
    expect(aadstsCode({ error_codes: [7000215] })).toBe(7000215);
    expect(aadstsCode({ error_description: 'AADSTS700016: Application not found' })).toBe(700016);
    expect(aadstsCode({ error: 'invalid_client' })).toBeUndefined();
  });

  it('bounds a long description', () => {
    expect(shortDescription('x'.repeat(1000)).length).toBeLessThanOrEqual(241);
  });
});

describe('classifyImapFailure with OAuth', () => {
  const ctx = { host: 'outlook.office365.com', port: 993, user: 'support@contoso.com', folder: 'INBOX' };

  it('a refused token request is an auth failure (parks after a few), an unreachable endpoint a network one', () => {
    expect(classifyImapFailure(new OAuthTokenError('refused: x', true, 'microsoft'), ctx)).toEqual({ kind: 'auth', message: 'refused: x' });
    expect(classifyImapFailure(new OAuthTokenError('unreachable', false, 'microsoft'), ctx).kind).toBe('network');
  });

  it('a login refused with a token says what to grant, per provider', () => {
    const refused = Object.assign(new Error('Command failed'), {
      authenticationFailed: true,
      serverResponseCode: 'AUTHENTICATIONFAILED',
      responseText: 'AUTHENTICATE failed.',
    });
    const ms = classifyImapFailure(refused, { ...ctx, oauth: 'microsoft' });
    expect(ms.kind).toBe('auth');
    expect(ms.message).toMatch(/refused the access token for support@contoso\.com \(AUTHENTICATE failed\.\): .*IMAP\.AccessAsApp.*New-ServicePrincipal.*Add-MailboxPermission/);
    expect(classifyImapFailure(refused, { ...ctx, oauth: 'google' }).message).toMatch(/https:\/\/mail\.google\.com\//);
    // Without OAuth the password message stays as it was.
    expect(classifyImapFailure(refused, ctx).message).toMatch(/check the password/);
  });
});

describe('refreshMargin', () => {
  it.each([
    [3600_000, 300_000],
    [600_000, 120_000],
    [3_000, 600],
    [0, 0],
  ])('a %i ms token is replaced %i ms early', (lifetime, margin) => {
    expect(refreshMargin(lifetime)).toBe(margin);
  });
});
