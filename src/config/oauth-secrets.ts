// The secrets an `auth` block names (environment variables, key files), read once when the
// configuration is parsed. A missing or unreadable one is a configuration problem that names
// the key path; the values go to config.secrets.oauth and never to logs, jobs or Redis.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { registerSecret } from '../core/log.js';
import { httpsOrLoopback, type OAuthConfig } from './oauth-schema.js';

type Env = Record<string, string | undefined>;

export interface OAuthSecrets {
  clientSecret?: string;
  refreshToken?: string;
  /** Entra ID certificate credential: the signing key and the certificate's thumbprints (base64url). */
  certificate?: { key: KeyObject; x5t: string; x5tS256: string };
  /** Google service account. */
  serviceAccount?: { clientEmail: string; privateKeyId: string; key: KeyObject; tokenUri?: string };
}

const serviceAccountJson = z.object({
  type: z.literal('service_account').optional(),
  client_email: z.string().min(1),
  private_key_id: z.string().min(1),
  private_key: z.string().min(1),
  token_uri: z.string().url().optional(),
});

type Problems = { path: string; message: string }[];

function fromEnv(env: Env, name: string, path: string, what: string, absent: Problems): string | undefined {
  const v = env[name];
  if (!v) absent.push({ path, message: `environment variable ${name} is not set: export ${what} in it` });
  else registerSecret(v);
  return v || undefined;
}

function readText(file: string, path: string, what: string, problems: Problems, absent: Problems): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    // Not there, or not for this process (the systemd units hide /etc/mailroom/secrets from all but the role that uses it).
    (code === 'ENOENT' || code === 'EACCES' ? absent : problems).push({ path, message: `cannot read ${what} ${file}: ${why}` });
    return undefined;
  }
}

/**
 * Read the secrets of one `auth` block at `path` (e.g. "mailboxes[0].imap.auth"). A secret this
 * process does not hold (a variable not set, a file it cannot find or open) goes to `absent`:
 * only the role that logs in needs it (requireSecrets); one that is there but wrong is a problem.
 */
export function loadOAuthSecrets(auth: OAuthConfig, env: Env, path: string, problems: Problems, absent: Problems = problems): OAuthSecrets {
  const out: OAuthSecrets = {};
  if (auth.provider === 'microsoft') {
    if (auth.clientSecretEnv) out.clientSecret = fromEnv(env, auth.clientSecretEnv, `${path}.clientSecretEnv`, 'the app registration\'s client secret (its Value)', absent);
    const c = auth.certificate;
    if (c) {
      const certPem = readText(c.certificateFile, `${path}.certificate.certificateFile`, 'the certificate', problems, absent);
      const keyPem = c.privateKeyEnv
        ? fromEnv(env, c.privateKeyEnv, `${path}.certificate.privateKeyEnv`, 'the certificate\'s PEM private key', absent)
        : readText(c.privateKeyFile!, `${path}.certificate.privateKeyFile`, 'the private key', problems, absent);
      if (certPem && keyPem) {
        try {
          const cert = new X509Certificate(certPem);
          const key = createPrivateKey(keyPem);
          if (!cert.checkPrivateKey(key)) {
            problems.push({ path: `${path}.certificate`, message: 'the private key does not belong to the certificate' });
          } else {
            const b64u = (fp: string) => Buffer.from(fp.replace(/:/g, ''), 'hex').toString('base64url');
            out.certificate = { key, x5t: b64u(cert.fingerprint), x5tS256: b64u(cert.fingerprint256) };
          }
        } catch (err) {
          problems.push({ path: `${path}.certificate`, message: `not a PEM certificate and private key: ${(err as Error).message}` });
        }
      }
    }
  } else if (auth.provider === 'google') {
    const text = auth.serviceAccountKeyEnv
      ? fromEnv(env, auth.serviceAccountKeyEnv, `${path}.serviceAccountKeyEnv`, 'the service account\'s JSON key', absent)
      : readText(auth.serviceAccountKeyFile!, `${path}.serviceAccountKeyFile`, 'the service account key', problems, absent);
    if (text) {
      let parsed: z.infer<typeof serviceAccountJson> | undefined;
      try {
        parsed = serviceAccountJson.parse(JSON.parse(text));
      } catch {
        problems.push({
          path: `${path}.${auth.serviceAccountKeyEnv ? 'serviceAccountKeyEnv' : 'serviceAccountKeyFile'}`,
          message: 'not a service account JSON key (it needs client_email, private_key_id and private_key): download one under IAM & Admin > Service accounts > Keys',
        });
      }
      // The signed assertion goes to token_uri (unless tokenUrl overrides it): never in clear.
      if (parsed?.token_uri && !auth.tokenUrl && !httpsOrLoopback(parsed.token_uri)) {
        problems.push({
          path: `${path}.${auth.serviceAccountKeyEnv ? 'serviceAccountKeyEnv' : 'serviceAccountKeyFile'}`,
          message: `the key's token_uri ${parsed.token_uri} is not https: the signed assertion would travel in clear (plain http is allowed only on loopback); use the key as Google issued it (token_uri https://oauth2.googleapis.com/token) or set tokenUrl`,
        });
        parsed = undefined;
      }
      if (parsed) {
        try {
          registerSecret(parsed.private_key);
          out.serviceAccount = {
            clientEmail: parsed.client_email,
            privateKeyId: parsed.private_key_id,
            key: createPrivateKey(parsed.private_key),
            tokenUri: parsed.token_uri,
          };
        } catch (err) {
          problems.push({ path, message: `the service account's private_key is not a PEM key: ${(err as Error).message}` });
        }
      }
    }
  } else {
    if (auth.clientSecretEnv) out.clientSecret = fromEnv(env, auth.clientSecretEnv, `${path}.clientSecretEnv`, 'the OAuth client secret', absent);
    if (auth.refreshTokenEnv) out.refreshToken = fromEnv(env, auth.refreshTokenEnv, `${path}.refreshTokenEnv`, 'the OAuth refresh token', absent);
  }
  return out;
}
