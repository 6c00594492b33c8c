// Every mail in ../shared/corpora (about 1,000 real mails written by others) through the same
// path `mailroom ingest` takes: listed, split when mbox, parsed, classified. Prints figures.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listMailInputs, splitMbox } from '../../src/mail/mbox.js';
import { parseMail } from '../../src/mail/parse.js';
import { MAX_RECORD_BYTES, mailRecordSchema, type MailRecord } from '../../src/mail/record.js';
import { sha256Of } from '../../src/mail/store.js';
import { corpusDir, corpusPath, notice } from '../helpers/corpus.js';

const root = corpusDir();
const sisimai = corpusPath('sisimai-set-of-emails');
if (!root) notice('corpus tests skipped: ../shared/corpora (or MAILROOM_CORPUS_DIR) is absent');
else if (!sisimai) notice('sisimai expectation tests skipped: sisimai-set-of-emails is absent from the corpora');

// Provenance, licences, checksums and expectation tables that sit beside the mail.
const NOT_MAIL = /^(SOURCE|LICENSE|README|MANIFEST|EXPECTED)|\.upstream$/;

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

/** Source ("file" or "file#n") -> record, for every mail in every corpus. */
const records = new Map<string, MailRecord>();

describe.skipIf(!root)('corpora: every mail', () => {
  beforeAll(async () => {
    const files = walk(root!).filter((p) => !NOT_MAIL.test(p.split('/').pop()!));
    for (const input of await listMailInputs(files)) {
      const data = readFileSync(input.path);
      const messages = input.kind === 'mbox' ? splitMbox(data) : [data];
      const rel = relative(root!, input.path);
      // A file with no messages in it (empty) is still looked at, as one empty mail.
      for (const [i, raw] of (messages.length ? messages : [data]).entries()) {
        const record = await parseMail(raw, { sha256: sha256Of(raw), size: raw.length });
        records.set(input.kind === 'mbox' ? `${rel}#${i + 1}` : rel, record);
      }
    }
  }, 300_000);

  it('parses every mail or marks it unparseable, each record valid and within MAX_RECORD_BYTES', () => {
    expect(records.size).toBeGreaterThan(900);
    const byCorpus = new Map<string, Map<string, number>>();
    let largest = 0;
    for (const [source, record] of records) {
      expect(() => mailRecordSchema.parse(record), source).not.toThrow();
      const bytes = Buffer.byteLength(JSON.stringify(record));
      expect(bytes, source).toBeLessThanOrEqual(MAX_RECORD_BYTES);
      largest = Math.max(largest, bytes);
      if (record.classification.kind === 'unparseable') expect(record.parseError, source).toBeTruthy();
      const corpus = source.split('/')[0]!;
      const counts = byCorpus.get(corpus) ?? new Map<string, number>();
      counts.set(record.classification.kind, (counts.get(record.classification.kind) ?? 0) + 1);
      byCorpus.set(corpus, counts);
    }
    const lines = [...byCorpus].map(([c, counts]) => {
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      return `  ${c}: ${total} mails (${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')})`;
    });
    const unparseable = [...records].filter(([, r]) => r.classification.kind === 'unparseable');
    console.log(
      `corpora: ${records.size} mails, largest record ${largest} bytes (limit ${MAX_RECORD_BYTES})\n${lines.join('\n')}\n` +
        `  unparseable: ${unparseable.map(([s, r]) => `${s} (${r.parseError})`).join('; ') || 'none'}`,
    );
  });

  describe.skipIf(!sisimai)('sisimai set-of-emails', () => {
    it('classifies at least 99% of the maildir/bsd mails its expectation tables list as bounce, feedback report or auto-reply', () => {
      // file -> sisimai's reason; a file listed for several recipients counts once.
      const expected = new Map<string, string>();
      for (const table of ['EXPECTED-go-sisimai.tsv', 'EXPECTED-p5-sisimai-supplement.tsv']) {
        for (const line of readFileSync(join(sisimai!, table), 'utf8').split('\n')) {
          const [file, , , , reason] = line.split('\t');
          if (file?.endsWith('.eml') && reason !== undefined && !expected.has(file)) expected.set(file, reason);
        }
      }
      expect(expected.size).toBeGreaterThan(600);
      const want = (reason: string) => (reason === 'vacation' ? 'auto-reply' : reason === 'feedback' ? 'feedback-report' : 'bounce');
      const automated = new Set(['bounce', 'feedback-report', 'auto-reply']);
      const misses: string[] = [];
      const otherKind: string[] = [];
      for (const [file, reason] of expected) {
        const record = records.get(`sisimai-set-of-emails/maildir/bsd/${file}`);
        expect(record, file).toBeDefined();
        const { kind, reason: why } = record!.classification;
        if (!automated.has(kind)) misses.push(`${file} (sisimai: ${reason}; ours: ${kind}, ${why})`);
        else if (kind !== want(reason)) otherKind.push(`${file} (sisimai: ${reason}; ours: ${kind}, ${why})`);
      }
      const hit = expected.size - misses.length;
      const pct = (100 * hit) / expected.size;
      const exact = hit - otherKind.length;
      console.log(
        `sisimai maildir/bsd: ${hit}/${expected.size} (${pct.toFixed(2)}%) classified bounce, feedback-report or auto-reply; ` +
          `${exact} (${((100 * exact) / expected.size).toFixed(2)}%) as exactly the kind sisimai expects\n` +
          `  misses: ${misses.join('; ') || 'none'}\n  automated but another kind: ${otherKind.join('; ') || 'none'}`,
      );
      expect(pct).toBeGreaterThanOrEqual(99);
    });

    it('classifies rfc3834-* as auto-reply and arf-* as feedback report', () => {
      const bsd = [...records].filter(([s]) => s.startsWith('sisimai-set-of-emails/maildir/bsd/'));
      const kinds = (prefix: string) => bsd.filter(([s]) => s.split('/').pop()!.startsWith(prefix)).map(([s, r]) => [s.split('/').pop(), r.classification.kind]);
      const vacations = kinds('rfc3834-');
      expect(vacations.length).toBeGreaterThanOrEqual(5);
      expect(vacations.filter(([, k]) => k !== 'auto-reply')).toEqual([]);
      // arf-26 is Apple Mail's one-click unsubscribe (Auto-Submitted: auto-replied, no ARF part):
      // sisimai files it under feedback, we under auto-reply; both keep it out of the pipeline.
      const reports = kinds('arf-');
      expect(reports.length).toBeGreaterThanOrEqual(17);
      expect(reports.filter(([, k]) => k !== 'feedback-report')).toEqual([['arf-26.eml', 'auto-reply']]);
    });

    it('does not call the maildir/not mails bounces', () => {
      const not = [...records].filter(([s]) => s.startsWith('sisimai-set-of-emails/maildir/not/'));
      expect(not.length).toBe(3);
      // rb-issue-368-bug.eml sits in not/ upstream, but it is a postmaster's "Mailbox full"
      // rejection sent with a null Return-Path ("automatic bounce notification ... Your message
      // was rejected"): every generic rule here calls that a bounce, and a rule that did not
      // would miss real bounces. It is kept out of the human pipeline either way.
      const DELIVERY_FAILURE_FILED_AS_NOT = 'sisimai-set-of-emails/maildir/not/rb-issue-368-bug.eml';
      for (const [source, record] of not) {
        if (source === DELIVERY_FAILURE_FILED_AS_NOT) {
          expect(record.classification.kind).not.toBe('human');
          notice(`${source} is classified ${record.classification.kind} (${record.classification.reason}): a postmaster "Mailbox full" notice upstream files under not/`);
        } else expect(record.classification.kind, source).not.toBe('bounce');
      }
      console.log(`sisimai maildir/not: ${not.map(([s, r]) => `${s.split('/').pop()} -> ${r.classification.kind}`).join(', ')}`);
    });

    it('classifies the CRLF and bare-CR variants like the originals', () => {
      for (const variant of ['dos', 'mac']) {
        const files = [...records].filter(([s]) => s.startsWith(`sisimai-set-of-emails/maildir/${variant}/`));
        expect(files.length).toBeGreaterThan(50);
        const differ = files.filter(([s, r]) => {
          const original = records.get(s.replace(`/${variant}/`, '/bsd/'));
          return original && original.classification.kind !== r.classification.kind;
        });
        expect(differ.map(([s]) => s)).toEqual([]);
      }
    });
  });
});
