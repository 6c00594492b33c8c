// Parsing throughput over a corpus of real mail: Mailroom's parseMail (record, classification,
// bounds) against mailparser's simpleParser with its defaults, same mails, same run.
// `npx tsx bench/parse.ts [corpusDir]` (default ../shared/corpora).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { simpleParser } from 'mailparser';
import { listMailInputs, splitMbox } from '../src/mail/mbox.js';
import { parseMail } from '../src/mail/parse.js';
import { sha256Of } from '../src/mail/store.js';

export interface ParseBench {
  mails: number;
  bytes: number;
  mailroomMailsPerSec: number;
  mailroomMBps: number;
  bareMailsPerSec: number;
  bareMBps: number;
}

// Provenance, licences, checksums and expectation tables that sit beside corpus mail.
const NOT_MAIL = /^(SOURCE|LICENSE|README|MANIFEST|EXPECTED)|\.upstream$/;

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

export async function loadCorpus(corpusDir: string): Promise<Buffer[]> {
  const files = walk(corpusDir).filter((p) => !NOT_MAIL.test(p.split('/').pop()!));
  const mails: Buffer[] = [];
  for (const input of await listMailInputs(files)) {
    const data = readFileSync(input.path);
    mails.push(...(input.kind === 'mbox' ? splitMbox(data) : [data]));
  }
  return mails;
}

export async function benchParse(corpusDir: string): Promise<ParseBench> {
  const mails = await loadCorpus(corpusDir);
  const refs = mails.map((m) => ({ sha256: sha256Of(m), size: m.length }));
  const bytes = mails.reduce((n, m) => n + m.length, 0);

  const bare = async (list: Buffer[]) => {
    for (const m of list) await simpleParser(m).catch(() => undefined);
  };
  const ours = async (list: Buffer[]) => {
    for (const [i, m] of list.entries()) await parseMail(m, refs[i]!);
  };
  // Warm both paths up (JIT, charset tables) before timing either.
  await bare(mails.slice(0, 100));
  await ours(mails.slice(0, 100));

  const time = async (fn: (l: Buffer[]) => Promise<void>) => {
    const t0 = performance.now();
    await fn(mails);
    return (performance.now() - t0) / 1000;
  };
  const bareSec = await time(bare);
  const oursSec = await time(ours);
  const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
  return {
    mails: mails.length,
    bytes,
    mailroomMailsPerSec: round(mails.length / oursSec, 0),
    mailroomMBps: round(bytes / 1e6 / oursSec),
    bareMailsPerSec: round(mails.length / bareSec, 0),
    bareMBps: round(bytes / 1e6 / bareSec),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = resolve(process.argv[2] ?? join(process.cwd(), '..', 'shared', 'corpora'));
  benchParse(dir).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
