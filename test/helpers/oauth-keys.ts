// Throwaway credentials for the OAuth tests: a self-signed certificate with its key (as uploaded
// to an Entra ID app registration) and a Google service account JSON key.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A self-signed RSA certificate and its PKCS#8 key, in PEM (openssl is on every CI image we use). */
export async function makeCertificate(cn = 'mailroom-test'): Promise<{ certPem: string; keyPem: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mroauth-cert-'));
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    return { certPem: await readFile(join(dir, 'cert.pem'), 'utf8'), keyPem: await readFile(join(dir, 'key.pem'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A service account key as Google's console hands it out, and the public half for the server. */
export function makeServiceAccount(tokenUri: string): { json: string; clientEmail: string; privateKeyId: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = 'mailroom@mailroom-test.iam.gserviceaccount.com';
  const privateKeyId = randomBytes(20).toString('hex');
  const json = JSON.stringify({
    type: 'service_account',
    project_id: 'mailroom-test',
    private_key_id: privateKeyId,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: clientEmail,
    client_id: '109876543210',
    token_uri: tokenUri,
  });
  return { json, clientEmail, privateKeyId, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}
