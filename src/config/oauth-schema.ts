// The `auth` sub-object of a mailbox's `imap` section and of `smtp`: how Mailroom obtains an
// OAuth 2.0 access token instead of sending a password. Secrets are named by environment
// variable (or file path), never written in the YAML itself.
import { z } from 'zod';
import { envVarName } from './value-schemas.js';

const envName = envVarName('SUPPORT_OAUTH_SECRET');
/** A token endpoint secrets may be sent to: https, or plain http on loopback (local test endpoints). */
export function httpsOrLoopback(u: string): boolean {
  try {
    const url = new URL(u);
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname));
  } catch {
    return false;
  }
}

/** As the URL will be read (`https:/id:secret@host` and backslashes too), not as it is spelled. */
function hasUserInfo(u: string): boolean {
  try {
    const url = new URL(u);
    return url.username !== '' || url.password !== '';
  } catch {
    return false; // not a URL: .url() says so
  }
}

const httpsUrl = z
  .string()
  .url('a URL such as https://login.example.com/oauth2/token')
  .refine(httpsOrLoopback, 'must be https:// (plain http is allowed only on loopback, for local test endpoints)')
  // The YAML holds no secret (secrets are named by variable or file): a password here would be printed and logged.
  .refine((u) => !hasUserInfo(u), 'holds a user name or password before the @: remove it (name the client secret with clientSecretEnv)');

/** Exchange Online's resource; the client-credentials grant asks for its `.default` scope. */
export const MICROSOFT_IMAP_SCOPE = 'https://outlook.office365.com/.default';
export const MICROSOFT_AUTHORITY = 'https://login.microsoftonline.com';
export const GOOGLE_MAIL_SCOPE = 'https://mail.google.com/';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

const microsoft = z
  .object({
    provider: z.literal('microsoft'),
    /** Directory (tenant) ID or a verified domain of the tenant, e.g. contoso.onmicrosoft.com. */
    tenantId: z
      .string()
      .trim()
      .superRefine((t, ctx) => {
        // A GUID (Overview → Directory (tenant) ID) or one of the tenant's verified domains. A
        // clipped GUID, `common` or `organizations` would reach Entra ID and be refused there,
        // after the mailbox waited through its login failures.
        if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(t) || /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/i.test(t)) return;
        const why = /[/:]/.test(t)
          ? 'give only the id, not a URL'
          : /^\{.*\}$/.test(t)
            ? 'without the braces'
            : /^[0-9a-f-]+$/i.test(t)
              ? 'a GUID has 8-4-4-4-12 hexadecimal digits: copy it again'
              : 'app-only sign-in needs your own tenant';
        ctx.addIssue({ code: 'custom', message: `"${t}" is not a Directory (tenant) ID (${why}): the GUID on the app registration's Overview page, e.g. 8f0c1d2e-7a3b-4c5d-9e6f-0a1b2c3d4e5f, or your tenant's domain such as contoso.onmicrosoft.com` });
      }),
    /** Application (client) ID of the app registration. */
    clientId: z.string().min(1),
    /** Env var holding the client secret's Value (not its Secret ID). */
    clientSecretEnv: envName.optional(),
    /** Or a certificate uploaded to the app registration, and its private key. */
    certificate: z
      .object({
        /** PEM certificate (public part, the one uploaded to Entra): its thumbprint names the key. */
        certificateFile: z.string().min(1),
        privateKeyFile: z.string().min(1).optional(),
        /** Env var holding the PEM private key instead of a file. */
        privateKeyEnv: envName.optional(),
      })
      .strict()
      .refine((c) => !!c.privateKeyFile !== !!c.privateKeyEnv, 'set exactly one of privateKeyFile or privateKeyEnv')
      .optional(),
    /** Sovereign clouds: https://login.microsoftonline.us, https://login.partner.microsoftonline.cn. */
    authority: httpsUrl.default(MICROSOFT_AUTHORITY),
    scope: z.string().min(1).default(MICROSOFT_IMAP_SCOPE),
  })
  .strict()
  .refine((m) => !!m.clientSecretEnv !== !!m.certificate, 'set exactly one of clientSecretEnv or certificate');

const google = z
  .object({
    provider: z.literal('google'),
    /** The service account's JSON key (client_email, private_key, private_key_id). */
    serviceAccountKeyFile: z.string().min(1).optional(),
    /** Or the same JSON in an environment variable. */
    serviceAccountKeyEnv: envName.optional(),
    /** The user to impersonate; defaults to the mailbox's own user. */
    subject: z.string().min(1).optional(),
    /** Defaults to the key's token_uri, else https://oauth2.googleapis.com/token. */
    tokenUrl: httpsUrl.optional(),
    scope: z.string().min(1).default(GOOGLE_MAIL_SCOPE),
  })
  .strict()
  .refine((g) => !!g.serviceAccountKeyFile !== !!g.serviceAccountKeyEnv, 'set exactly one of serviceAccountKeyFile or serviceAccountKeyEnv');

const generic = z
  .object({
    provider: z.literal('oauth2'),
    tokenUrl: httpsUrl,
    clientId: z.string().min(1),
    clientSecretEnv: envName.optional(),
    /** With a refresh token the refresh_token grant is used; without, client_credentials. */
    refreshTokenEnv: envName.optional(),
    scope: z.string().min(1).optional(),
    /** How the client authenticates to the token endpoint (RFC 6749 2.3.1). */
    clientAuth: z.enum(['body', 'basic']).default('body'),
  })
  .strict()
  .refine((g) => g.clientSecretEnv || g.refreshTokenEnv, 'set clientSecretEnv (client credentials) or refreshTokenEnv (refresh token), or both');

export const oauthSchema = z.discriminatedUnion('provider', [microsoft, google, generic]);

export type OAuthConfig = z.infer<typeof oauthSchema>;
