// Mail text -> Atlassian Document Format, the body of issue descriptions and comments in REST
// v3. Pure: blank lines make paragraphs, single line ends make hard breaks, URLs (and the
// anchors of an HTML mail, see htmlToLinkedText in src/mail/content.ts) become link marks, and
// quoted history is stripped when asked.
import { A_CLOSE, A_MID, A_OPEN } from '../mail/html-text.js';
import type { AdfDoc } from '../jira/types.js';
import { clipText } from './route.js';

export interface AdfNode {
  type: string;
  text?: string;
  marks?: { type: string; attrs?: Record<string, unknown> }[];
  attrs?: Record<string, unknown>;
  content?: AdfNode[];
}

// Everything here runs on mail text chosen by the sender, so every step is linear in its size:
// no pattern can backtrack over a run it failed on (no `\s+$` on a long line, no search for a
// mark that may never come), and no loop copies the rest of the text per line.

// eslint-disable-next-line no-control-regex -- the anchor marks are control characters on purpose
const URL_RE = /\b(?:https?:\/\/|mailto:)[^\s<>"'\u0001-\u0003]+/gi;

// "On Tue, 3 Mar 2026 at 10:00, Ana <ana@x> wrote:" (Gmail, Apple Mail, Thunderbird) and its
// German and French forms; Gmail folds the long line, so the marker may span two lines.
const WROTE = /^(On\b.{0,300}\bwrote|Am\b.{0,300}\bschrieb|Le\b.{0,300}\ba écrit)\s*:\s*$/i;
const ORIGINAL = /^-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine)\s*-{2,}\s*$/i;
// A forward (Gmail, Thunderbird, Apple Mail; German, French) is what the customer sends us, not
// history the issue holds already: from its marker on, nothing is left out (a "From: … Date:"
// block inside it included).
const FORWARDED = /^(-{2,}\s*(Forwarded message|Weitergeleitete Nachricht|Message transféré)\s*-{2,}|(Begin forwarded message|Anfang der weitergeleiteten Nachricht|Début du message réexpédié)\s*:)\s*$/i;
const OUTLOOK_FROM = /^\*?(From|Von|De)\s*:\*?\s+\S/i;
const OUTLOOK_NEXT = /^\*?(Sent|Date|Gesendet|Envoyé|To|An|À|Subject|Betreff|Objet)\s*:/i;
const RULE = /^_{10,}\s*$/;

/**
 * The new part of a reply: quoted lines (`>`) dropped, and everything from an "On … wrote:"
 * marker (when what follows is not `>`-quoted, as in mail converted from HTML), an
 * "-----Original Message-----" line, or an Outlook "From: … Sent: …" header block on. When
 * nothing would be left (a mail that is only a quote), the text is returned unchanged.
 */
export function stripQuotedHistory(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const t = line.trim();
    if (/^>/.test(t)) continue;
    if (FORWARDED.test(t)) {
      out.push(...lines.slice(i));
      break;
    }
    const two = i + 1 < lines.length ? `${t} ${lines[i + 1]!.trim()}` : '';
    const wrote = WROTE.test(t) ? 1 : /^(On|Am|Le)\b/i.test(t) && WROTE.test(two) ? 2 : 0;
    if (wrote) {
      let j = i + wrote;
      while (j < lines.length && lines[j]!.trim() === '') j++;
      if (j < lines.length && lines[j]!.trim().startsWith('>')) {
        i += wrote - 1; // drop the marker; the quoted lines drop themselves, inline answers stay
        continue;
      }
      break;
    }
    if (ORIGINAL.test(t)) break;
    if (OUTLOOK_FROM.test(t) && lines.slice(i + 1, i + 4).some((l) => OUTLOOK_NEXT.test(l.trim()))) {
      if (out.length && RULE.test(out[out.length - 1]!.trim())) out.pop();
      break;
    }
    out.push(line);
  }
  const kept = out.join('\n').trimEnd();
  return kept.trim() ? kept : text.replace(/\r\n?/g, '\n').trim();
}

// A forward says so in its subject: "Fwd:" (Gmail, Apple Mail, Thunderbird), "FW:" (Outlook)
// and Outlook's translations ("WG:" German, "TR:" French, "RV:" Spanish, "ENC:" Portuguese),
// after any bracketed tags ("[SUP-12]", "[EXTERNAL]"). Its body below an Outlook "From: … Sent:"
// block is what the customer forwards, not history the issue holds: Outlook writes both alike,
// and only the subject tells them apart. "RE: FW: …" is a reply (the outermost prefix counts).
const FORWARD_SUBJECT = /^\s*(?:\[[^\]\n]{0,100}\]\s*)*(?:fwd?|wg|tr|rv|enc)\s*:/i;

/** Whether the mail forwards another (its subject says so): then nothing of it is history to strip. */
export function isForward(subject: string | undefined): boolean {
  return !!subject && FORWARD_SUBJECT.test(subject);
}

export interface BodyOptions {
  stripQuotedHistory?: boolean;
  /** Lines added at the top (who wrote a comment), each its own paragraph. */
  preface?: string[];
  /** Lines added at the end (oversize attachments), each its own paragraph. */
  notes?: string[];
}

/**
 * Jira Cloud refuses a description or a comment longer than this (400; the characters of its
 * text, docs/jira-simulator-limits-and-lag.md). A body is cut to fit, preface and notes included.
 */
export const JIRA_TEXT_MAX = 32_767;
/** The notes' share at most (a mail may name hundreds of files): the mail's text comes first. */
const NOTES_MAX = 8_000;
const CUT_LINE = `Mailroom cut this text here: with its notes it was longer than the ${JIRA_TEXT_MAX.toLocaleString('en')} characters Jira takes.`;

/** Characters of paragraphs as their text counts them (each one, and the blank line between). Raw text: a link's href counts too. */
const size = (ps: readonly string[]) => ps.reduce((n, p) => n + p.length + 2, 0);

/** The paragraphs that fit `budget` characters: whole ones, then the start of the next; and whether any was left out. */
function fit(ps: readonly string[], budget: number): { kept: string[]; cut: boolean } {
  const kept: string[] = [];
  let left = budget;
  for (const p of ps) {
    if (p.length + 2 > left) {
      if (left > 40) kept.push(clipText(p, left - 2));
      return { kept, cut: true };
    }
    kept.push(p);
    left -= p.length + 2;
  }
  return { kept, cut: false };
}

/** Text (which may carry the anchor marks of htmlToLinkedText, src/mail/content.ts) to an ADF document. */
export function textToAdf(text: string, opts: BodyOptions = {}): AdfDoc {
  let body = text.replace(/\r\n?/g, '\n');
  if (opts.stripQuotedHistory) body = stripQuotedHistory(body);
  const paragraphs = body
    .split(/\n[ \t]*\n+/)
    .map((p) => p.replace(/^\n+/, '').trimEnd())
    .filter((p) => p.trim() !== '');
  const preface = opts.preface ?? [];
  const notesFit = fit(opts.notes ?? [], NOTES_MAX);
  const notes = notesFit.cut ? [...notesFit.kept, 'Mailroom left out further notes here: there were too many for one Jira text.'] : notesFit.kept;
  const textFit = fit(paragraphs, JIRA_TEXT_MAX - size(preface) - size(notes) - size([CUT_LINE]));
  const content: AdfNode[] = [];
  for (const line of preface) content.push(paragraph(line));
  for (const p of textFit.kept) content.push(paragraph(p));
  if (textFit.cut) content.push(paragraph(CUT_LINE));
  if (!paragraphs.length) content.push({ type: 'paragraph', content: [{ type: 'text', text: '(no text in the mail)', marks: [{ type: 'em' }] }] });
  for (const line of notes) content.push(paragraph(line));
  return { type: 'doc', version: 1, content };
}

function paragraph(text: string): AdfNode {
  const nodes: AdfNode[] = [];
  text.split('\n').forEach((line, i) => {
    if (i > 0) nodes.push({ type: 'hardBreak' });
    nodes.push(...inline(line));
  });
  return { type: 'paragraph', content: nodes };
}

/** Plain text with anchor marks and bare URLs turned into text nodes with link marks. */
export function inline(line: string): AdfNode[] {
  const out: AdfNode[] = [];
  // One left-to-right scan: each mark is looked for once, from where the last one ended, so
  // an A_OPEN without its A_MID (only a hostile input could make one) costs no rescans.
  let last = 0;
  // Positions found are kept while still ahead, so no stretch of the line is searched twice.
  let mid = -1;
  let end = -1;
  let nextOpen = -1;
  for (let open = line.indexOf(A_OPEN); open >= 0; open = line.indexOf(A_OPEN, last)) {
    if (mid <= open) mid = line.indexOf(A_MID, open + 1);
    if (mid < 0) break;
    if (end <= mid) end = line.indexOf(A_CLOSE, mid + 1);
    if (end < 0) break;
    if (nextOpen <= open) nextOpen = line.indexOf(A_OPEN, open + 1);
    if (nextOpen >= 0 && nextOpen < mid) {
      // An unfinished anchor: its text stays text.
      out.push(...bareLinks(line.slice(last, nextOpen)));
      last = nextOpen;
      continue;
    }
    out.push(...bareLinks(line.slice(last, open)));
    const href = strip(line.slice(mid + 1, end));
    const label = strip(line.slice(open + 1, mid)).trim() || href;
    out.push(linkText(label, href));
    last = end + 1;
  }
  out.push(...bareLinks(line.slice(last)));
  return out;
}

function bareLinks(s: string): AdfNode[] {
  const out: AdfNode[] = [];
  const clean = strip(s);
  let last = 0;
  for (const m of clean.matchAll(URL_RE)) {
    const url = withoutTrailingPunctuation(m[0]);
    if (m.index > last) out.push({ type: 'text', text: clean.slice(last, m.index) });
    out.push(linkText(url, url));
    last = m.index + url.length;
  }
  if (last < clean.length) out.push({ type: 'text', text: clean.slice(last) });
  // ADF refuses empty text nodes.
  return out.filter((n) => n.type !== 'text' || n.text !== '');
}

/** Sentence punctuation after a URL is not part of it (a loop: `[.,]+$` rescans long runs). */
function withoutTrailingPunctuation(url: string): string {
  let end = url.length;
  while (end > 0 && '.,;:!?)]'.includes(url[end - 1]!)) end--;
  return url.slice(0, end);
}

function linkText(text: string, href: string): AdfNode {
  return { type: 'text', text, marks: [{ type: 'link', attrs: { href } }] };
}

function strip(s: string): string {
  // eslint-disable-next-line no-control-regex -- the anchor marks are control characters on purpose
  return s.replace(/[\u0001-\u0003]/g, '');
}

/** Plain text of a document (the JSM description takes text): a link whose label is not its URL keeps the URL. */
export function adfToText(doc: AdfDoc): string {
  const text = (c: AdfNode): string => {
    if (c.type === 'hardBreak') return '\n';
    const href = c.marks?.find((m) => m.type === 'link')?.attrs?.href;
    return typeof href === 'string' && href !== c.text ? `${c.text ?? ''} <${href}>` : (c.text ?? '');
  };
  const para = (n: AdfNode): string => (n.content ?? []).map(text).join('');
  return (doc.content as AdfNode[]).map(para).join('\n\n');
}
