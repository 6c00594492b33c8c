// Text from the HTML of a mail: for the excerpt of mails without a text/plain part (intake) and
// for the body delivered to Jira, anchors kept as link marks (src/deliver/adf.ts).
//
// The HTML is chosen by the sender, so this must be linear in its size whatever it holds. It
// uses htmlparser2's Tokenizer (a state machine over the characters, full HTML5 entity table,
// raw-text handling of <script>/<style>) and no element stack: htmlparser2's Parser keeps the
// open elements in an array it searches and unshifts, quadratic on a nesting bomb (200,000
// `<a href=x>` take ~11 s there), and a DOM converter such as html-to-text builds that tree too.
// A text converter needs no tree: block tags become line breaks, a few elements are skipped
// whole, and one anchor at a time is open (HTML5 closes an open `<a>` when another starts).
import { QuoteType, Tokenizer } from 'htmlparser2';

// Anchors survive as these control characters around label and href, so delivery can make
// the label a link (they never occur in mail text: the converter removes them from it).
export const A_OPEN = '\u0001';
export const A_MID = '\u0002';
export const A_CLOSE = '\u0003';

/** Only these schemes become links: a `javascript:` href from a mail must stay plain text. */
const SAFE_HREF = /^(https?:\/\/|mailto:)/i;

export interface HtmlTextOptions {
  /** Keep `<a href>` anchors (safe schemes only) as A_OPEN label A_MID href A_CLOSE. */
  links?: boolean;
  /** HTML characters read at most; the rest is not looked at (the result says `cut`). */
  maxInputChars?: number;
  /** Text characters produced at most; reading stops there (the result says `cut`). */
  maxChars?: number;
}

export interface HtmlText {
  text: string;
  /** Some of the HTML's text is missing: the input or the output reached its cap. */
  cut: boolean;
  /** Which cap was met first: the text budget, or the HTML read. */
  cutBy?: 'text' | 'input';
}

// Generous defaults: callers with a tighter budget say so.
export const DEFAULT_MAX_INPUT_CHARS = 4 * 1024 * 1024;
export const DEFAULT_MAX_TEXT_CHARS = 1024 * 1024;
/** A longer href is not a link a person follows; keeps the marks small. */
const MAX_HREF_CHARS = 2048;

const BLOCK = new Set(['p', 'div', 'tr', 'table', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'blockquote', 'section', 'article', 'header', 'footer', 'pre', 'hr', 'address', 'dl', 'dt', 'dd', 'figure', 'main', 'nav', 'aside', 'center']);
/** Elements whose content is not text a reader sees. */
const SKIP = new Set(['head', 'style', 'script', 'title', 'template', 'noscript', 'xml']);

// eslint-disable-next-line no-control-regex -- the anchor marks are control characters on purpose
const MARKS_RE = /[\u0001-\u0003]/g;

export function htmlToTextCapped(html: string, opts: HtmlTextOptions = {}): HtmlText {
  const maxInput = opts.maxInputChars ?? DEFAULT_MAX_INPUT_CHARS;
  const maxChars = opts.maxChars ?? DEFAULT_MAX_TEXT_CHARS;
  const input = html.length > maxInput ? html.slice(0, maxInput) : html;
  let cutBy: HtmlText['cutBy'];

  const output = textOutput(maxChars, () => {
    cutBy = 'text';
    tokenizer.pause();
  });
  const elements = elementWalker(output, { links: !!opts.links, maxChars });
  const tokenizer: Tokenizer = new Tokenizer({ decodeEntities: true }, tokenizerCallbacks(input, elements, tagReader(input)));
  tokenizer.write(input);
  tokenizer.end();
  elements.closeAnchor();
  if (!cutBy && input.length < html.length) cutBy = 'input';
  return { text: tidy(output.joined()), cut: cutBy !== undefined, ...(cutBy ? { cutBy } : {}) };
}

type TextOutput = ReturnType<typeof textOutput>;
type ElementWalker = ReturnType<typeof elementWalker>;
type TagReader = ReturnType<typeof tagReader>;
type TokenizerCallbacks = ConstructorParameters<typeof Tokenizer>[1];

/** The text produced so far, within its budget; `onFull` is told when the budget is met. */
function textOutput(maxChars: number, onFull: () => void) {
  const out: string[] = [];
  let outChars = 0;
  let last = '\n'; // the last character produced: blanks after a blank or a line end are dropped

  const push = (s: string) => {
    if (!s) return;
    if (outChars >= maxChars) return onFull();
    if (outChars + s.length > maxChars) {
      s = s.slice(0, maxChars - outChars);
      onFull();
    }
    out.push(s);
    outChars += s.length;
    last = s[s.length - 1]!;
  };
  const text = (s: string, pre: boolean) => {
    if (pre) return push(s.replace(MARKS_RE, ''));
    // Outside <pre>, any run of whitespace is one space (HTML's rule), collapsed as it comes
    // so that a megabyte of blanks does not fill the text budget.
    const clean = s.replace(MARKS_RE, '').replace(/[ \t\n\r\f\v\u00a0]+/g, ' ');
    push(clean[0] === ' ' && (last === ' ' || last === '\n') ? clean.slice(1) : clean);
  };
  const mark = (s: string) => {
    // Marks count against the budget, and a closing mark goes in even past it: an anchor is
    // never left half-marked.
    out.push(s);
    outChars += s.length;
    if (outChars >= maxChars) onFull();
  };
  return { push, text, mark, chars: () => outChars, joined: () => out.join('') };
}

/**
 * What elements do to the text: block tags break lines, skipped elements hide their content,
 * <pre> keeps whitespace, and one anchor at a time is open (no element stack: see the top).
 */
function elementWalker(output: TextOutput, opts: { links: boolean; maxChars: number }) {
  let skipping: string | undefined; // the element whose content is being skipped
  let pre = 0; // depth of <pre>: whitespace kept as is
  let anchor: string | undefined; // the href of the open anchor

  const closeAnchor = () => {
    if (anchor === undefined) return;
    output.mark(A_MID + anchor + A_CLOSE);
    anchor = undefined;
  };
  return {
    closeAnchor,
    text(s: string): void {
      if (!skipping) output.text(s, pre > 0);
    },
    /** A <head> left open ends where the body starts, as browsers read it. */
    tagStarts(name: string): void {
      if (skipping === 'head' && name === 'body') skipping = undefined;
    },
    openAnchor(href: string | undefined): void {
      if (skipping) return;
      closeAnchor();
      if (opts.links && href && href.length <= MAX_HREF_CHARS && SAFE_HREF.test(href) && output.chars() < opts.maxChars) {
        output.mark(A_OPEN);
        anchor = href.replace(MARKS_RE, '');
      }
    },
    open(name: string): void {
      if (skipping) return;
      if (SKIP.has(name)) {
        skipping = name;
        return;
      }
      if (name === 'br') output.push('\n');
      else if (name === 'li') output.push('\n- ');
      else if (BLOCK.has(name)) {
        output.push('\n');
        if (name === 'pre') pre++;
      }
    },
    close(name: string): void {
      if (skipping) {
        if (name === skipping) skipping = undefined;
        return;
      }
      if (name === 'a') closeAnchor();
      else if (name === 'td' || name === 'th') output.push(' ');
      else if (name === 'br') output.push('\n');
      else if (BLOCK.has(name)) {
        output.push('\n');
        if (name === 'pre' && pre > 0) pre--;
      }
    },
  };
}

/** The start tag being read: its name, and the href of an <a> (read up to MAX_HREF_CHARS + 1). */
function tagReader(input: string) {
  let tag = ''; // name of the open tag being read
  let attr = ''; // name of the attribute being read
  let href: string[] | undefined; // value of the href being read
  let hrefChars = 0;
  let pendingHref: string | undefined; // the href of the <a> whose start tag is being read

  return {
    tag: () => tag,
    href: () => pendingHref,
    name(start: number, end: number): string {
      tag = input.slice(start, end).toLowerCase();
      pendingHref = undefined;
      return tag;
    },
    attribName(start: number, end: number): void {
      attr = input.slice(start, end).toLowerCase();
      if (tag === 'a' && attr === 'href' && pendingHref === undefined) {
        href = [];
        hrefChars = 0;
      }
    },
    attribData(start: number, end: number): void {
      if (!href || hrefChars > MAX_HREF_CHARS) return;
      const part = input.slice(start, Math.min(end, start + MAX_HREF_CHARS + 1 - hrefChars));
      href.push(part);
      hrefChars += part.length;
    },
    attribEntity(cp: number): void {
      if (!href || hrefChars > MAX_HREF_CHARS) return;
      href.push(String.fromCodePoint(cp));
      hrefChars += 1;
    },
    attribEnd(): void {
      if (href) pendingHref = href.join('').trim();
      href = undefined;
    },
  };
}

/** The tokenizer's events, handed to the tag reader and the element walker. */
function tokenizerCallbacks(input: string, elements: ElementWalker, tags: TagReader): TokenizerCallbacks {
  return {
    ontext: (start, end) => elements.text(input.slice(start, end)),
    ontextentity: (cp) => elements.text(String.fromCodePoint(cp)),
    onopentagname: (start, end) => elements.tagStarts(tags.name(start, end)),
    onattribname: (start, end) => tags.attribName(start, end),
    onattribdata: (start, end) => tags.attribData(start, end),
    onattribentity: (cp) => tags.attribEntity(cp),
    onattribend: (_quote: QuoteType) => tags.attribEnd(),
    onopentagend: () => {
      if (tags.tag() === 'a') elements.openAnchor(tags.href());
      else elements.open(tags.tag());
    },
    onselfclosingtag: () => {
      if (tags.tag() !== 'a') elements.open(tags.tag());
    },
    onclosetag: (start, end) => elements.close(input.slice(start, end).toLowerCase()),
    oncdata: () => undefined,
    oncomment: () => undefined,
    ondeclaration: () => undefined,
    onprocessinginstruction: () => undefined,
    onend: () => undefined,
  };
}

/** Text of `html`, for the excerpt (no link marks). */
export function htmlToText(html: string, opts: Omit<HtmlTextOptions, 'links'> = {}): string {
  return htmlToTextCapped(html, opts).text;
}

/**
 * Whitespace as a reader expects it: runs of blanks one space, no blanks around line ends, at
 * most one empty line. Every pattern here matches in one pass (no nested or overlapping
 * quantifiers), so this stays linear.
 */
function tidy(s: string): string {
  return s
    .replace(/[ \t\f\v\u00a0]+/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
