// What an OAuth failure means, in words a person can act on: the provider's own error (for
// Entra ID its AADSTS code) and what to grant or fix. Pure functions, table-tested in
// test/unit/oauth-errors.test.ts.
import type { OAuthConfig } from '../config/oauth-schema.js';

export type OAuthProvider = OAuthConfig['provider'];

const PROVIDER_NAME: Record<OAuthProvider, string> = {
  microsoft: 'Microsoft Entra ID',
  google: 'Google',
  oauth2: 'the token endpoint',
};

/** Getting an access token failed. `refused`: the provider said no (fix the setup); otherwise it could not be asked. */
export class OAuthTokenError extends Error {
  constructor(
    message: string,
    readonly refused: boolean,
    readonly provider: OAuthProvider,
    /** The provider's error code (`invalid_client`, …) and, for Entra ID, the AADSTS number. */
    readonly oauthError?: string,
    readonly aadsts?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OAuthTokenError';
  }
}

export interface TokenErrorBody {
  error?: unknown;
  error_description?: unknown;
  error_codes?: unknown;
}

/** The first line of an error description, without Entra's trace/correlation trailer, bounded. */
export function shortDescription(text: string): string {
  const first = text.split(/\r?\n/)[0]!.replace(/\s*Trace ID:.*$/i, '').trim();
  return first.length > 240 ? `${first.slice(0, 240)}…` : first;
}

export function aadstsCode(body: TokenErrorBody): number | undefined {
  if (Array.isArray(body.error_codes) && typeof body.error_codes[0] === 'number') return body.error_codes[0];
  const m = typeof body.error_description === 'string' ? /AADSTS(\d+)/.exec(body.error_description) : null;
  return m ? Number(m[1]) : undefined;
}

/** What to do about an Entra ID refusal, by AADSTS code. */
const AADSTS_HINTS: Record<number, string> = {
  7000215: "the client secret is wrong: put the secret's Value (shown once, when it was created), not its Secret ID, in the environment variable",
  7000222: 'the client secret has expired: create a new one under Certificates & secrets and put its Value in the environment variable',
  700016: 'no such application in this tenant: check auth.clientId and auth.tenantId (the app must be registered in, or consented to by, the mailbox\'s tenant)',
  90002: 'no such tenant: check auth.tenantId (the Directory (tenant) ID on the app registration\'s Overview page)',
  900023: 'auth.tenantId is not a valid tenant ID or domain',
  700027: 'the certificate is not registered on the app, or the key does not match it: upload auth.certificate.certificateFile under Certificates & secrets',
  700024: 'the client assertion is outside its valid time range: check this machine\'s clock',
  70011: `the scope is not valid: use ${'https://outlook.office365.com/.default'}`,
  1002012: `the scope is not valid: use ${'https://outlook.office365.com/.default'}`,
  7000112: 'the application is disabled in the tenant: enable it (Enterprise applications > Properties)',
  7000218: 'neither a client secret nor a certificate reached Entra ID: set auth.clientSecretEnv or auth.certificate',
  50034: 'no such user in the tenant',
};

function googleHint(error: string, description: string): string {
  if (error === 'unauthorized_client' || error === 'access_denied') {
    return "domain-wide delegation is not granted: in the Google Admin console (Security > Access and data control > API controls > Manage domain-wide delegation) add the service account's client ID with the scope https://mail.google.com/";
  }
  if (/invalid email|user id/i.test(description)) return 'the impersonated user is not a user of the Workspace domain: set auth.subject (or imap.user) to the mailbox\'s address';
  if (/signature/i.test(description)) return 'the key was deleted or does not belong to the service account: create a new JSON key for it';
  if (/iat|exp|timeframe/i.test(description)) return 'the assertion time is off: check this machine\'s clock';
  if (error === 'invalid_scope') return 'the scope is not allowed: use https://mail.google.com/';
  return 'check the service account key and its domain-wide delegation';
}

function genericHint(error: string): string {
  switch (error) {
    case 'invalid_client':
      return 'the client ID or client secret is wrong';
    case 'invalid_grant':
      return 'the refresh token is expired or revoked: obtain a new one and put it in the environment variable named by auth.refreshTokenEnv';
    case 'invalid_scope':
      return 'the requested scope is not allowed for this client: fix auth.scope';
    case 'unauthorized_client':
      return 'the client may not use this grant type: allow it on the authorization server';
    default:
      return 'check the client registration on the authorization server';
  }
}

/** The message for a token request the provider answered with an error. */
export function describeTokenRefusal(provider: OAuthProvider, status: number, body: TokenErrorBody, who: string): OAuthTokenError {
  const error = typeof body.error === 'string' ? body.error : `HTTP ${status}`;
  const description = typeof body.error_description === 'string' ? shortDescription(body.error_description) : '';
  const code = provider === 'microsoft' ? aadstsCode(body) : undefined;
  // Entra ID's descriptions start with the AADSTS code: no need to repeat it.
  const said = description ? `${error}: ${description}` : error;
  const hint =
    provider === 'microsoft'
      ? ((code !== undefined ? AADSTS_HINTS[code] : undefined) ?? 'check the app registration (tenant, client ID, secret or certificate)')
      : provider === 'google'
        ? googleHint(error, description)
        : genericHint(error);
  // 5xx, 429 and "temporarily_unavailable" are the provider's trouble, not the setup's.
  const refused = status < 500 && status !== 429 && error !== 'temporarily_unavailable' && error !== 'server_error';
  const message = refused
    ? `${PROVIDER_NAME[provider]} refused a token for ${who} (${said}): ${hint}`
    : `${PROVIDER_NAME[provider]} could not issue a token for ${who} right now (${said}): will retry`;
  return new OAuthTokenError(message, refused, provider, error, code);
}

/** What to grant when the mail server refuses a token the provider issued. */
export function loginRefusedHint(provider: OAuthProvider, service: 'imap' | 'smtp'): string {
  if (provider === 'microsoft') {
    return service === 'imap'
      ? 'give the app the Office 365 Exchange Online application permission IMAP.AccessAsApp with admin consent, register its service principal in Exchange Online (New-ServicePrincipal -AppId <clientId> -ObjectId <enterprise app object id>) and grant it this mailbox (Add-MailboxPermission -Identity <mailbox> -User <service principal id> -AccessRights FullAccess)'
      : 'give the app the Office 365 Exchange Online application permission SMTP.SendAsApp with admin consent, grant its service principal the mailbox (Add-MailboxPermission … -AccessRights FullAccess) and enable SMTP AUTH for it (Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false)';
  }
  if (provider === 'google') {
    return 'check that the delegation grants https://mail.google.com/ and that the user is allowed IMAP/SMTP access (Admin console > Apps > Google Workspace > Gmail > End User Access)';
  }
  return 'the server refused the access token: check the scope (auth.scope) and that the token\'s identity may use this mailbox';
}
