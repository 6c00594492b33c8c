// `mailroom ingest` as a person runs it: the real CLI in a child process, on a corpus of mail.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusPath, notice } from '../helpers/corpus.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const mikel = corpusPath('mikel-mail');
if (!mikel) notice('ingest e2e skipped: ../shared/corpora/mikel-mail is absent');

const prefix = uniquePrefix('ingest-e2e');
const redis = testRedis();
let dir: string;
let configFile: string;

async function mailroom(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', ['--import', 'tsx', 'src/cli/main.ts', '--config', configFile, ...args], {
      cwd: repo,
      env: { ...process.env, MAILROOM_PREFIX: prefix },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailroom-ingest-e2e-'));
  configFile = join(dir, 'mailroom.yml');
  await writeFile(
    configFile,
    `jira:\n  site: https://acme.atlassian.net\nstore:\n  kind: fs\n  dir: ${join(dir, 'store')}\nmailboxes:\n  - id: support\n`,
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe.skipIf(!mikel)('mailroom ingest ../shared/corpora/mikel-mail', () => {
  it('prints a row per mail and exits 0', async () => {
    const emls = (await readdir(mikel!, { recursive: true })).filter((f) => f.endsWith('.eml')).map((f) => join(mikel!, f));
    expect(emls.length).toBeGreaterThan(100);

    const table = await mailroom('ingest', mikel!);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^FILE\s+KIND\s+FROM\s+SUBJECT\s+QUEUED$/);
    for (const f of emls) expect(lines.some((l) => l.startsWith(f + ' ')), f).toBe(true);
    expect(lines.at(-1)).toMatch(new RegExp(`^${emls.length} mails: `));

    const json = await mailroom('ingest', '--json', mikel!);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as { source: string; kind: string; sha256: string; from?: string; queued: string }[];
    expect(rows.map((r) => r.source).sort()).toEqual([...emls].sort());
    // The first run fed the pipeline one job per distinct mail (job id = sha256 of the bytes);
    // the second run found every one already queued and added nothing.
    expect(rows.every((r) => r.queued === 'already queued')).toBe(true);
    const jobIds = await redis.keys(`${prefix}:mail-inbound:*`);
    const distinct = new Set(rows.map((r) => r.sha256));
    expect(new Set(jobIds.map((k) => k.split(':').at(-1)).filter((id) => distinct.has(id!)))).toEqual(distinct);
    expect(await redis.llen(`${prefix}:mail-inbound:wait`)).toBe(distinct.size);
    const multi = rows.find((r) => relative(mikel!, r.source) === join('emails', 'multipart_report_emails', 'multi_address_bounce1.eml'));
    expect(multi?.kind).toBe('bounce');
    // Every mail is in the store the configuration names, under its sha256.
    const stored = (await readdir(join(dir, 'store'), { recursive: true })).filter((f) => /[a-f0-9]{64}$/.test(f));
    expect(new Set(stored.map((f) => f.slice(-64)))).toEqual(new Set(rows.map((r) => r.sha256)));
  }, 180_000); // two CLI runs over 104 mails on a shared 2-core machine: room, not a speed target

  it('only classifies with --no-enqueue, and refuses an unknown mailbox', async () => {
    const one = join(mikel!, 'emails', 'multipart_report_emails', 'multi_address_bounce1.eml');
    const r = await mailroom('ingest', '--no-enqueue', '--json', one);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)[0]).not.toHaveProperty('queued');
    const bad = await mailroom('ingest', '--mailbox', 'nope', one);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no mailbox "nope"');
    expect(bad.stderr).toContain('support');
  });

  it('exits 2 and names the path when a path does not exist', async () => {
    const missing = join(dir, 'no-such-dir');
    const r = await mailroom('ingest', mikel!, missing);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${missing}: no such file or directory`);
    expect(r.stdout).toBe('');
  });
});

// `mailroom ingest` reads with the install's notification domain (smtp.from's), like the poller:
// an answer to our notification is our own mail, an answer to another install's is a person's.
describe('mailroom ingest: answers to notifications', () => {
  it('classifies an answer to ours as own and an answer to another install\'s as human', async () => {
    const withSmtp = join(dir, 'mailroom-smtp.yml');
    await writeFile(
      withSmtp,
      `jira:\n  site: https://acme.atlassian.net\nstore:\n  kind: fs\n  dir: ${join(dir, 'store')}\nsmtp:\n  host: 127.0.0.1\n  from: support@acme.example\nmailboxes:\n  - id: support\n`,
    );
    const answer = (name: string, domain: string) =>
      [
        'From: Pat Buyer <pat@partner.example>',
        'To: support@acme.example',
        `Subject: Re: [${name}] Issue created`,
        `Message-ID: <${name}@partner.example>`,
        `In-Reply-To: <mailroom.0123456789abcdef0123456789abcdef@${domain}>`,
        'Date: Mon, 07 Dec 2026 10:00:00 +0000',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Adding our support desk: the invoice numbers are below.',
        '',
      ].join('\r\n');
    const mails = join(dir, 'answers');
    await mkdir(mails, { recursive: true });
    await writeFile(join(mails, 'ours.eml'), answer('ours', 'acme.example'));
    await writeFile(join(mails, 'theirs.eml'), answer('theirs', 'vendor.example'));
    const r = await run('node', ['--import', 'tsx', 'src/cli/main.ts', '--config', withSmtp, 'ingest', '--no-enqueue', '--json', mails], { cwd: repo, env: { ...process.env, MAILROOM_PREFIX: prefix } });
    const kinds = Object.fromEntries((JSON.parse(r.stdout) as { source: string; kind: string }[]).map((row) => [relative(mails, row.source), row.kind]));
    expect(kinds).toEqual({ 'ours.eml': 'own', 'theirs.eml': 'human' });
  }, 60_000);
});
