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
  let cut = false;
  let cutBy: HtmlText['cutBy'];

  const out: string[] = [];
  let outChars = 0;
  let skipping: string | undefined; // the element whose content is being skipped
  let pre = 0; // depth of <pre>: whitespace kept as is
  let tag = ''; // name of the open tag being read
  let attr = ''; // name of the attribute being read
  let href: string[] | undefined; // value of the href being read
  let hrefChars = 0;
  let pendingHref: string | undefined; // the href of the <a> whose start tag is being read
  let anchor: string | undefined; // the href of the open anchor

  const full = () => {
    cut = true;
    cutBy = 'text';
    tokenizer.pause();
  };
  const push = (s: string) => {
    if (!s) return;
    if (outChars >= maxChars) return full();
    if (outChars + s.length > maxChars) {
      s = s.slice(0, maxChars - outChars);
      full();
    }
    out.push(s);
    outChars += s.length;
    last = s[s.length - 1]!;
  };
  let last = '\n'; // the last character produced: blanks after a blank or a line end are dropped
  const text = (s: string) => {
    if (skipping) return;
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
    if (outChars >= maxChars) full();
  };
  const closeAnchor = () => {
    if (anchor === undefined) return;
    mark(A_MID + anchor + A_CLOSE);
    anchor = undefined;
  };
  const open = (name: string) => {
    if (skipping) return;
    if (SKIP.has(name)) {
      skipping = name;
      return;
    }
    if (name === 'br') push('\n');
    else if (name === 'li') push('\n- ');
    else if (BLOCK.has(name)) {
      push('\n');
      if (name === 'pre') pre++;
    }
  };
  const close = (name: string) => {
    if (skipping) {
      if (name === skipping) skipping = undefined;
      return;
    }
    if (name === 'a') closeAnchor();
    else if (name === 'td' || name === 'th') push(' ');
    else if (name === 'br') push('\n');
    else if (BLOCK.has(name)) {
      push('\n');
      if (name === 'pre' && pre > 0) pre--;
    }
  };

  const tokenizer: Tokenizer = new Tokenizer(
    { decodeEntities: true },
    {
      ontext: (start, end) => text(input.slice(start, end)),
      ontextentity: (cp) => text(String.fromCodePoint(cp)),
      onopentagname: (start, end) => {
        tag = input.slice(start, end).toLowerCase();
        pendingHref = undefined;
        // A <head> left open ends where the body starts, as browsers read it.
        if (skipping === 'head' && tag === 'body') skipping = undefined;
      },
      onattribname: (start, end) => {
        attr = input.slice(start, end).toLowerCase();
        if (tag === 'a' && attr === 'href' && pendingHref === undefined) {
          href = [];
          hrefChars = 0;
        }
      },
      onattribdata: (start, end) => {
        if (!href || hrefChars > MAX_HREF_CHARS) return;
        const part = input.slice(start, Math.min(end, start + MAX_HREF_CHARS + 1 - hrefChars));
        href.push(part);
        hrefChars += part.length;
      },
      onattribentity: (cp) => {
        if (!href || hrefChars > MAX_HREF_CHARS) return;
        href.push(String.fromCodePoint(cp));
        hrefChars += 1;
      },
      onattribend: (_quote: QuoteType) => {
        if (href) pendingHref = href.join('').trim();
        href = undefined;
      },
      onopentagend: () => {
        if (tag === 'a') {
          if (skipping) return;
          closeAnchor();
          if (opts.links && pendingHref && pendingHref.length <= MAX_HREF_CHARS && SAFE_HREF.test(pendingHref) && outChars < maxChars) {
            mark(A_OPEN);
            anchor = pendingHref.replace(MARKS_RE, '');
          }
          return;
        }
        open(tag);
      },
      onselfclosingtag: () => {
        if (tag !== 'a') open(tag);
      },
      onclosetag: (start, end) => close(input.slice(start, end).toLowerCase()),
      oncdata: () => undefined,
      oncomment: () => undefined,
      ondeclaration: () => undefined,
      onprocessinginstruction: () => undefined,
      onend: () => undefined,
    },
  );
  tokenizer.write(input);
  tokenizer.end();
  closeAnchor();
  if (!cut && input.length < html.length) {
    cut = true;
    cutBy = 'input';
  }
  return { text: tidy(out.join('')), cut, ...(cutBy ? { cutBy } : {}) };
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
