// Classification's two figures (issue 23): precision, as "no person's mail is finished
// silently", on mails people wrote with bounce-like and out-of-office-like wording
// (test/fixtures/mail/human-lookalikes, one file per pattern); and recall on machine mail,
// sisimai's maildir/bsd set with its expectation tables (the set the rules were written against)
// and a held-out set the rules were NOT written against (sisimai's maildir/err, mailbox/mbox-* and
// to-be-debugged-because/: every mail there is machine mail). A mail that only a weak signal
// catches is delivered and labelled, so it counts as caught in `flagged` but not in `silent`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { listMailInputs, splitMbox } from '../../src/mail/mbox.js';
import { parseMail } from '../../src/mail/parse.js';
import type { Classification } from '../../src/mail/record.js';
import { sha256Of } from '../../src/mail/store.js';

export interface Scored {
  source: string;
  classification: Classification;
}

export interface Recall {
  mails: number;
  /** Finished silently: classified as machine mail on strong evidence. */
  silent: number;
  /** Delivered but labelled as suspected machine mail (weak evidence only). */
  flagged: number;
  silentPct: number;
  /** Silent or flagged: machine mail an agent does not mistake for a person's. */
  caughtPct: number;
  misses: string[];
}

export interface Precision {
  mails: number;
  /** Delivered as a person's mail (with or without a suspect label). */
  delivered: number;
  /** Of those, labelled as suspected machine mail. */
  labelled: number;
  deliveredPct: number;
  dropped: string[];
}

const NOT_MAIL = /^(SOURCE|LICENSE|README|MANIFEST|EXPECTED)|\.upstream$/;

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

/** Every mail under `paths` (directories walked, mbox split), parsed and classified as intake does. */
export async function classifyAll(paths: string[], base: string): Promise<Scored[]> {
  const files = paths.flatMap((p) => (statSync(p).isDirectory() ? walk(p) : [p])).filter((p) => !NOT_MAIL.test(basename(p)));
  const out: Scored[] = [];
  for (const input of await listMailInputs(files)) {
    const data = readFileSync(input.path);
    const messages = input.kind === 'mbox' ? splitMbox(data) : [data];
    for (const [i, raw] of messages.entries()) {
      const record = await parseMail(raw, { sha256: sha256Of(raw), size: raw.length });
      out.push({ source: `${relative(base, input.path)}${input.kind === 'mbox' ? `#${i + 1}` : ''}`, classification: record.classification });
    }
  }
  return out;
}

const pct = (n: number, of: number) => (of ? Math.round((10_000 * n) / of) / 100 : 0);

export function recallOf(mails: Scored[]): Recall {
  const silent = mails.filter((m) => !['human', 'unparseable'].includes(m.classification.kind));
  const flagged = mails.filter((m) => m.classification.kind === 'human' && m.classification.suspected);
  const misses = mails.filter((m) => m.classification.kind === 'unparseable' || (m.classification.kind === 'human' && !m.classification.suspected));
  return {
    mails: mails.length,
    silent: silent.length,
    flagged: flagged.length,
    silentPct: pct(silent.length, mails.length),
    caughtPct: pct(silent.length + flagged.length, mails.length),
    misses: [...misses, ...flagged].map((m) => `${m.source} (${m.classification.kind}${m.classification.suspected ? `, suspected ${m.classification.suspected}` : ''}: ${m.classification.reason})`),
  };
}

export function precisionOf(mails: Scored[]): Precision {
  const delivered = mails.filter((m) => m.classification.kind === 'human');
  return {
    mails: mails.length,
    delivered: delivered.length,
    labelled: delivered.filter((m) => m.classification.suspected).length,
    deliveredPct: pct(delivered.length, mails.length),
    dropped: mails.filter((m) => m.classification.kind !== 'human').map((m) => `${m.source} (${m.classification.kind}: ${m.classification.reason})`),
  };
}

/** The files sisimai's expectation tables list under maildir/bsd (each once). */
export function sisimaiExpected(sisimai: string): string[] {
  const files = new Set<string>();
  for (const table of ['EXPECTED-go-sisimai.tsv', 'EXPECTED-p5-sisimai-supplement.tsv']) {
    for (const line of readFileSync(join(sisimai, table), 'utf8').split('\n')) {
      const file = line.split('\t')[0];
      if (file?.endsWith('.eml')) files.add(join(sisimai, 'maildir', 'bsd', file));
    }
  }
  return [...files].sort();
}

/**
 * Held out while the rules were written: machine mail from sisimai's other folders (mailbox/size-*
 * are mbox size edge cases, not mail; maildir/err is split from mailbox/mbox-0, so some mails
 * count twice).
 */
export function heldOutPaths(sisimai: string): string[] {
  return ['maildir/err', 'mailbox/mbox-0', 'mailbox/mbox-1', 'to-be-debugged-because'].map((p) => join(sisimai, p));
}

export interface ClassifyScore {
  humanLookalikes: Precision;
  machineMail: Recall;
  heldOut: Recall;
}

/** All three figures; `sisimai` is the corpus folder (absent: the machine figures are empty). */
export async function scoreClassification(lookalikes: string, sisimai: string | undefined, base: string): Promise<ClassifyScore> {
  const humanLookalikes = precisionOf(await classifyAll([lookalikes], base));
  const empty = recallOf([]);
  if (!sisimai) return { humanLookalikes, machineMail: empty, heldOut: empty };
  return {
    humanLookalikes,
    machineMail: recallOf(await classifyAll(sisimaiExpected(sisimai), base)),
    heldOut: recallOf(await classifyAll(heldOutPaths(sisimai), base)),
  };
}
