// Text from outside (a mail's Subject, From name, Message-ID and attachment names; Jira's error
// text) printed by the operator's tools, as an attacker who can mail the support address would
// write it: terminal control sequences (CSI, OSC 8 links, OSC 52 clipboard writes, CR, BEL, C1),
// bidi overrides, newlines that would forge a table row or an audit entry, and values long
// enough to blow up a table. The mail goes in through `mailroom ingest` (the real parser); real
// station workers fail it with a hostile Jira answer (the failed set and the audit trail get
// what they get in production); every command runs as a child process, as an operator runs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Queue, Worker } from 'bullmq';
import { createLogger } from '../../src/core/log.js';
import { PermanentError } from '../../src/core/errors.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { jiraDeliver, mailInbound } from '../../src/queues/catalog.js';
import { addJob, openQueue } from '../../src/queues/queue.js';
import { startWorker } from '../../src/station/worker.js';
import type { MailRecord } from '../../src/mail/record.js';
import { dropPrefix, REDIS_ENV, testRedis, uniquePrefix } from '../helpers/redis.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const prefix = uniquePrefix('clihostile');
const redis = testRedis({ forWorker: true });
const dir = mkdtempSync(join(tmpdir(), 'mailroom-hostile-'));
const configFile = join(dir, 'mailroom.yml');
const pwned = join(dir, 'PWNED');
let inbound: Queue;
let deliver: Queue;
const workers: Worker[] = [];
const logLines: string[] = [];

/** What a terminal obeys instead of showing: C0 but tab and newline, DEL, C1, bidi controls. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

const ESC = '\x1b';
const CONTROLS =
  `${ESC}]8;;https://evil.example/\x07click me${ESC}]8;;\x07` + // OSC 8 hyperlink
  `${ESC}]52;c;cm0gLXJmIH4=\x07` + // OSC 52: put "rm -rf ~" on the clipboard
  `${ESC}[31mred${ESC}[0m\rOVERWRITTEN\x07\u009b2J` + // CSI, CR, BEL, C1 CSI
  '\u202eevil\u202c\u2066x\u2069'; // bidi override and isolate
const SUBJECT = `\u202eInvoice ${CONTROLS}`;
const NAME = `Ann ${ESC}[2J\u202eNNA`;
// A Message-ID whose encoded word decodes to a newline: a forged audit row and failed-list row,
// and a shell command for whoever pastes a suggested command line holding it.
const FORGED_AUDIT = '2024-01-01 00:00:00Z  account-ready  ok  ceo@example.com';
const MESSAGE_ID = `<x'$(touch ${pwned})'\n${FORGED_AUDIT}\n${ESC}]0;retitled\x07\u202e@evil.example>`;
const FILENAME = `invoice\u202efdp.exe${ESC}[5m`;
// Jira's answer as the deliverer reports it: a new line that looks like a row of `failed list`.
const JIRA_TEXT = `Jira answered 400: summary invalid\nmail-inbound/support:1:99  2024-01-01T00:00:00Z  1  ceo@example.com  forged  ok ${ESC}[8m`;

const encodedWord = (s: string) => `=?UTF-8?B?${Buffer.from(s).toString('base64')}?=`;
const EML = [
  `From: ${encodedWord(NAME)} <ann@customer.example>`,
  'To: support@example.org',
  `Subject: ${encodedWord(SUBJECT)}`,
  `Message-ID: ${encodedWord(MESSAGE_ID)}`,
  'Date: Mon, 1 Jan 2024 00:00:00 +0000',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary=BB',
  '',
  '--BB',
  'Content-Type: text/plain',
  '',
  'hello',
  '--BB',
  'Content-Type: application/octet-stream',
  `Content-Disposition: attachment; filename="${encodedWord(FILENAME)}"`,
  'Content-Transfer-Encoding: base64',
  '',
  'aGVsbG8=',
  '--BB--',
  '',
].join('\r\n');
const emlFile = join(dir, 'hostile.eml');

// Past what the parser lets through (it bounds subjects, names and ids), as a record in Redis
// could still hold them: a 1 MB subject and a 100,000-character Message-ID.
const LONG_ID = `<${'m'.repeat(100_000)}@x.example>`;
function longRecord(): MailRecord {
  return {
    v: 1,
    rawRef: { sha256: createHash('sha256').update('long').digest('hex'), size: 2_000_000 },
    messageId: LONG_ID,
    references: [],
    subject: `${'S'.repeat(1_000_000)}\n${FORGED_AUDIT}`,
    from: { address: 'long@customer.example', name: 'L'.repeat(100_000) },
    replyTo: [],
    to: [{ address: 'support@example.org' }],
    cc: [],
    text: 'hello',
    textTruncated: false,
    fromHtml: false,
    attachments: [],
    attachmentsTruncated: false,
    headers: {},
    classification: { kind: 'human', reason: 'no automated-mail markers' },
  };
}

function cli(...args: string[]): Promise<CliRun> {
  return runCli(args, { config: configFile, env: { ...process.env, ...REDIS_ENV, MAILROOM_PREFIX: prefix, MAILROOM_LOG_LEVEL: 'error' }, timeoutMs: 120_000, maxBuffer: 64 * 1024 * 1024 });
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Each line of human output that would do something other than show itself in a terminal. */
const unsafeLines = (text: string) => text.split('\n').filter((l) => UNSAFE.test(l));

let ingested: CliRun;

beforeAll(async () => {
  writeFileSync(configFile, `jira:\n  site: http://127.0.0.1:9\nstore:\n  kind: fs\n  dir: ${join(dir, 'store')}\nmailboxes:\n  - id: support\n`);
  writeFileSync(emlFile, EML);
  inbound = openQueue(mailInbound, { connection: redis, prefix });
  deliver = openQueue(jiraDeliver, { connection: redis, prefix });
  // The roles' own JSON log lines, captured: what a log collector (or `tail -f`) receives.
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ level: 'debug', destination: sink });
  const deps = { connection: redis, prefix, logger, concurrency: 2 };
  workers.push(
    // The resolver's part: hand the mail to delivery, as it does for a mail whose people are known.
    startWorker(mailInbound, async (data) => {
      await addJob(deliver, jiraDeliver, { mailboxId: data.mailboxId, origin: data.origin, record: data.record });
      return 'handed over';
    }, deps),
    startWorker(jiraDeliver, async () => {
      throw new PermanentError(JIRA_TEXT);
    }, deps),
  );

  ingested = await cli('ingest', emlFile);
  await addJob(deliver, jiraDeliver, { mailboxId: 'support', origin: { kind: 'imap', uidvalidity: '1', uid: 7 }, record: longRecord() });
  await until('both deliveries to fail', async () => (await deliver.getJobCounts('failed')).failed === 2);
  // A Jira answer as long as a broken proxy's error page, in the mail's audit trail.
  await createAuditTrail({ redis, prefix }).record({ email: 'ann@customer.example', mail: MESSAGE_ID, step: 'create-user', outcome: 'error', jira: `502 ${'<html>'.repeat(200_000)}` });
}, 240_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await inbound.close();
  await deliver.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

describe('hostile mail text in the CLI', { timeout: 240_000 }, () => {
  it('ingest shows the hostile subject as text, one row per mail', () => {
    expect(ingested.code, ingested.stderr).toBe(0);
    expect(unsafeLines(ingested.stdout)).toEqual([]);
    const lines = ingested.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4); // header, the mail, a blank line, the count
    expect(lines[1]).toContain('ann@customer.example');
    expect(lines[3]).toBe('1 mail: 1 human');
  });

  it('failed list: no control sequence, no forged row, bounded width; --json carries the exact text', async () => {
    const [human, json] = await Promise.all([cli('failed', 'list'), cli('failed', 'list', '--json')]);
    expect(human.code).toBe(1);
    expect(unsafeLines(human.stdout)).toEqual([]);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3); // header + the two failed deliveries
    expect(lines.slice(1).every((l) => l.startsWith('jira-deliver/deliver|support|'))).toBe(true);
    expect(human.stdout.length).toBeLessThan(4000); // not 100,000 columns wide
    const jobs = JSON.parse(json.stdout) as { ref: string; subject?: string; messageId?: string; reason: string }[];
    const hostile = jobs.find((j) => j.messageId === MESSAGE_ID);
    expect(hostile).toMatchObject({ subject: SUBJECT.replace('\r', ' ').replace(/\s+/g, ' ').trim(), reason: JIRA_TEXT });
    expect(jobs.find((j) => j.messageId === LONG_ID)?.subject).toHaveLength(1_000_000 + 1 + FORGED_AUDIT.length);
  });

  it('failed show: every field on its own line, none forged, bounded', async () => {
    const jobs = JSON.parse((await cli('failed', 'list', '--json')).stdout) as { ref: string; messageId?: string }[];
    const hostileRef = jobs.find((j) => j.messageId === MESSAGE_ID)!.ref;
    const longRef = jobs.find((j) => j.messageId === LONG_ID)!.ref;
    const [hostile, long] = await Promise.all([cli('failed', 'show', hostileRef), cli('failed', 'show', longRef)]);
    expect(hostile.code, hostile.stderr).toBe(0);
    expect(unsafeLines(hostile.stdout)).toEqual([]);
    const fields = hostile.stdout.split('\n\n')[0]!.split('\n');
    expect(fields.map((l) => l.split(/\s+/)[0])).toEqual(['job', 'state', 'reason', 'attempts', 'failed', 'added', 'mailbox', 'sender', 'subject', 'message-id', 'raw']);
    expect(hostile.stdout).not.toMatch(/^mail-inbound\//m);
    expect(long.code, long.stderr).toBe(0);
    expect(long.stdout.length).toBeLessThan(20_000);
  });

  it('audit: the trail a hostile mail left is shown as text, one row per event, bounded', async () => {
    // The mail by its Message-ID, as `failed list --json` or the ingest row names it.
    const [human, json] = await Promise.all([cli('audit', MESSAGE_ID), cli('audit', MESSAGE_ID, '--json')]);
    expect(human.code, human.stderr).toBe(0);
    expect(unsafeLines(human.stdout)).toEqual([]);
    const events = JSON.parse(json.stdout) as { step: string; mail?: string; detail?: string }[];
    expect(events.find((e) => e.step === 'deliver-failed')).toMatchObject({ mail: MESSAGE_ID.slice(1, -1), detail: `failed for good (not retried): ${JIRA_TEXT}` });
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1 + events.length);
    // Each line a real event (today's, a step it recorded), the forged one only inside a cell.
    for (const l of lines.slice(1)) expect(l).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}(deliver-failed|create-user) /);
    expect(human.stdout).not.toMatch(/^2024-01-01 00:00:00Z/m);
    expect(human.stdout.length).toBeLessThan(10_000); // the 1.2 MB Jira answer is cut
  });

  it('status shows nothing raw', async () => {
    const r = await cli('status');
    expect(unsafeLines(r.stdout + r.stderr)).toEqual([]);
  });

  it('the roles log one JSON object per line, whatever the Message-ID', () => {
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(() => JSON.parse(line), line).not.toThrow();
    // The job id (its Message-ID) is in them exactly, yet no line holds a raw C1 or bidi control.
    expect(logLines.some((l) => (JSON.parse(l) as { jobId?: string }).jobId?.includes('\n2024-01-01') && l.includes('\\u202e'))).toBe(true);
    expect(logLines.filter((l) => UNSAFE.test(l))).toEqual([]);
  });

  it('reprocess names the mail as text and suggests a command that is safe to paste', async () => {
    const r = await cli('reprocess', '--file', emlFile);
    expect(r.code, r.stderr).toBe(0);
    expect(unsafeLines(r.stdout)).toEqual([]);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^queued again: /);
    expect(lines.filter((l) => l.startsWith('queued again: '))).toHaveLength(1);
    const follow = lines.find((l) => l.startsWith('follow it with: mailroom audit '));
    expect(follow, r.stdout).toBeDefined();
    // Paste it into a shell (with `printf` for `mailroom`): one argument, and nothing runs.
    const pasted = follow!.slice('follow it with: mailroom audit '.length);
    const shell = await new Promise<string>((done, fail) =>
      execFile('sh', ['-c', `printf '%s\\n' ${pasted}`], (e, stdout) => (e ? fail(e) : done(stdout))),
    );
    expect(shell.trimEnd().split('\n')).toHaveLength(1);
    expect(existsSync(pwned)).toBe(false);
    // And the id it names finds the mail's trail.
    const audit = await cli('audit', shell.trimEnd(), '--json');
    expect(audit.code, audit.stderr).toBe(0);
    expect((JSON.parse(audit.stdout) as { step: string }[]).some((e) => e.step === 'reprocess')).toBe(true);
  });
});
