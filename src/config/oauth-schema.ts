// The `auth` sub-object of a mailbox's `imap` section and of `smtp`: how Mailroom obtains an
// OAuth 2.0 access token instead of sending a password. Secrets are named by environment
// variable (or file path), never written in the YAML itself.
import { z } from 'zod';

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name such as SUPPORT_OAUTH_SECRET');
/** A token endpoint secrets may be sent to: https, or plain http on loopback (local test endpoints). */
export function httpsOrLoopback(u: string): boolean {
  try {
    const url = new URL(u);
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname));
  } catch {
    return false;
  }
}

const httpsUrl = z
  .string()
  .url('a URL such as https://login.example.com/oauth2/token')
  .refine(httpsOrLoopback, 'must be https:// (plain http is allowed only on loopback, for local test endpoints)');

/** Exchange Online's resource; the client-credentials grant asks for its `.default` scope. */
export const MICROSOFT_IMAP_SCOPE = 'https://outlook.office365.com/.default';
export const MICROSOFT_AUTHORITY = 'https://login.microsoftonline.com';
export const GOOGLE_MAIL_SCOPE = 'https://mail.google.com/';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

const microsoft = z
  .object({
    provider: z.literal('microsoft'),
    /** Directory (tenant) ID or a verified domain of the tenant, e.g. contoso.onmicrosoft.com. */
    tenantId: z.string().regex(/^[A-Za-z0-9.-]+$/, 'the Directory (tenant) ID, a GUID such as 8f0c…, or contoso.onmicrosoft.com'),
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
