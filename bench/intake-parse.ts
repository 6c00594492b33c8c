// Intake's parse cost over the corpus: readMail (record and delivery content, as the poller and
// `mailroom ingest` run it), three rounds, and how many mails got their content stored at intake
// (the rest are parsed again by the deliverer, if delivered). `npx tsx bench/intake-parse.ts [corpusDir]`.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readMail } from '../src/mail/parse.js';

const dir = process.argv[2] ?? process.env.MAILROOM_CORPUS_DIR ?? join(import.meta.dirname, '../../shared/corpora');
const ROUNDS = 3;

function mailFiles(d: string): string[] {
  return readdirSync(d).flatMap((f) => {
    const p = join(d, f);
    if (statSync(p).isDirectory()) return mailFiles(p);
    return /\.(eml|txt|msg)$/i.test(f) || !f.includes('.') ? [p] : [];
  });
}

const mails = mailFiles(dir)
  .map((f) => readFileSync(f))
  .filter((b) => b.length > 0);
const ref = (m: Buffer) => ({ sha256: createHash('sha256').update(m).digest('hex'), size: m.length });
for (const m of mails.slice(0, 50)) await readMail(m, ref(m)); // warm up
let bytes = 0;
let stored = 0;
const t0 = process.hrtime.bigint();
for (let round = 0; round < ROUNDS; round++) {
  for (const m of mails) {
    bytes += m.length;
    if ((await readMail(m, ref(m))).content) stored++;
  }
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ mails: mails.length, rounds: ROUNDS, seconds: +seconds.toFixed(2), MBps: +(bytes / 1e6 / seconds).toFixed(2), contentStoredAtIntake: stored / ROUNDS }));
