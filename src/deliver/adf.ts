// Mail text -> Atlassian Document Format, the body of issue descriptions and comments in REST
// v3. Pure: blank lines make paragraphs, single line ends make hard breaks, URLs (and the
// anchors of an HTML mail) become link marks, and quoted history is stripped when asked.
import { htmlToText } from '../mail/html-text.js';
import type { AdfDoc } from '../jira/types.js';

export interface AdfNode {
  type: string;
  text?: string;
  marks?: { type: string; attrs?: Record<string, unknown> }[];
  attrs?: Record<string, unknown>;
  content?: AdfNode[];
}

// Anchors of an HTML mail survive htmlToText as these control characters around label and
// href, so the link can become a link mark on its label (they never occur in mail text).
const A_OPEN = '\u0001';
const A_MID = '\u0002';
const A_CLOSE = '\u0003';

/** Only these schemes become links: a `javascript:` href from a mail must stay plain text. */
const SAFE_HREF = /^(https?:\/\/|mailto:)/i;
// eslint-disable-next-line no-control-regex -- the anchor marks above are control characters on purpose
const URL_RE = /\b(?:https?:\/\/|mailto:)[^\s<>"'\u0001-\u0003]+/gi;

/**
 * HTML to text keeping links: `<a href="u">label</a>` stays a link on "label". Block elements,
 * line breaks and entities are handled by the mail parser's converter.
 */
export function htmlToLinkedText(html: string): string {
  const marked = html.replace(/<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>([\s\S]*?)<\/a\s*>/gi, (_m, d?: string, s?: string, b?: string, label?: string) => {
    const href = (d ?? s ?? b ?? '').trim().replace(/&amp;/gi, '&');
    const inner = label ?? '';
    if (!SAFE_HREF.test(href)) return inner;
    return `${A_OPEN}${inner}${A_MID}${href}${A_CLOSE}`;
  });
  return htmlToText(latinEntities(marked));
}

// Accented-letter entities (&uuml;, &eacute;, &ccedil; ...) that the mail parser's converter
// leaves alone; common in European mail. Built from combining marks: `u` + diaeresis -> `ü`.
const MARKS: Record<string, string> = { uml: '\u0308', acute: '\u0301', grave: '\u0300', circ: '\u0302', tilde: '\u0303', ring: '\u030a', cedil: '\u0327' };
const SPECIAL: Record<string, string> = { szlig: 'ß', aelig: 'æ', AElig: 'Æ', oslash: 'ø', Oslash: 'Ø', eth: 'ð', thorn: 'þ', iexcl: '¡', iquest: '¿', laquo: '«', raquo: '»', deg: '°', middot: '·', times: '×' };

function latinEntities(s: string): string {
  return s.replace(/&([A-Za-z]+);/g, (m, name: string) => {
    if (SPECIAL[name]) return SPECIAL[name];
    const mm = /^([A-Za-z])(uml|acute|grave|circ|tilde|ring|cedil)$/.exec(name);
    if (!mm) return m;
    const ch = (mm[1]! + MARKS[mm[2]!]!).normalize('NFC');
    return ch.length === 1 ? ch : m;
  });
}

// "On Tue, 3 Mar 2026 at 10:00, Ana <ana@x> wrote:" (Gmail, Apple Mail, Thunderbird) and its
// German and French forms; Gmail folds the long line, so the marker may span two lines.
const WROTE = /^(On\b.{0,300}\bwrote|Am\b.{0,300}\bschrieb|Le\b.{0,300}\ba écrit)\s*:\s*$/i;
const ORIGINAL = /^-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine|Forwarded message)\s*-{2,}\s*$/i;
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
    const two = i + 1 < lines.length ? `${t} ${lines[i + 1]!.trim()}` : '';
    const wrote = WROTE.test(t) ? 1 : /^(On|Am|Le)\b/i.test(t) && WROTE.test(two) ? 2 : 0;
    if (wrote) {
      const next = lines.slice(i + wrote).find((l) => l.trim() !== '');
      if (next !== undefined && next.trim().startsWith('>')) {
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
  const kept = out.join('\n').replace(/\s+$/, '');
  return kept.trim() ? kept : text.replace(/\r\n?/g, '\n').trim();
}

export interface BodyOptions {
  stripQuotedHistory?: boolean;
  /** Lines added at the top (who wrote a comment), each its own paragraph. */
  preface?: string[];
  /** Lines added at the end (oversize attachments), each its own paragraph. */
  notes?: string[];
}

/** Text (which may carry the anchor marks of htmlToLinkedText) to an ADF document. */
export function textToAdf(text: string, opts: BodyOptions = {}): AdfDoc {
  let body = text.replace(/\r\n?/g, '\n');
  if (opts.stripQuotedHistory) body = stripQuotedHistory(body);
  const paragraphs = body
    .split(/\n[ \t]*\n+/)
    .map((p) => p.replace(/^\n+|\s+$/g, ''))
    .filter((p) => p.trim() !== '');
  const content: AdfNode[] = [];
  for (const line of opts.preface ?? []) content.push(paragraph(line));
  for (const p of paragraphs) content.push(paragraph(p));
  if (!paragraphs.length) content.push({ type: 'paragraph', content: [{ type: 'text', text: '(no text in the mail)', marks: [{ type: 'em' }] }] });
  for (const line of opts.notes ?? []) content.push(paragraph(line));
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
  const anchor = new RegExp(`${A_OPEN}([^${A_MID}]*)${A_MID}([^${A_CLOSE}]*)${A_CLOSE}`, 'g');
  let last = 0;
  for (let m = anchor.exec(line); m; m = anchor.exec(line)) {
    out.push(...bareLinks(line.slice(last, m.index)));
    const label = strip(m[1]!).trim() || m[2]!;
    out.push(linkText(label, m[2]!));
    last = m.index + m[0].length;
  }
  out.push(...bareLinks(line.slice(last)));
  return out;
}

function bareLinks(s: string): AdfNode[] {
  const out: AdfNode[] = [];
  const clean = strip(s);
  let last = 0;
  for (const m of clean.matchAll(URL_RE)) {
    // Sentence punctuation after a URL is not part of it.
    const url = m[0].replace(/[.,;:!?)\]]+$/, '');
    if (m.index > last) out.push({ type: 'text', text: clean.slice(last, m.index) });
    out.push(linkText(url, url));
    last = m.index + url.length;
  }
  if (last < clean.length) out.push({ type: 'text', text: clean.slice(last) });
  // ADF refuses empty text nodes.
  return out.filter((n) => n.type !== 'text' || n.text !== '');
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
