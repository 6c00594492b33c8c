// An agent's comment as the customer reads it, in plain text. Jira's editor writes ADF with
// lists, quotes, panels, tables, mentions, emoji, dates and smart links (a pasted URL becomes an
// `inlineCard`); adfToText (src/deliver/adf.ts) reads only the paragraphs of text Mailroom itself
// writes, so the steps of a list or a pasted link vanished from the customer's mail. This walks
// the whole document: every node's text is kept, whatever its kind (an unknown node by its
// content or its `text`). Files (`media`) are left to the note under the text
// (src/respond/comment-files.ts). Pure, bounded on a hostile document (depth and nodes, as
// mediaRefs), and never throws on a body that is not ADF.

const MAX_DEPTH = 64;
const MAX_NODES = 20_000;

/** Said under the text when a bound stopped the walk: nothing is left out silently. */
export const CUT_NOTE = '[The rest of this comment could not be shown in this mail.]';

/** Nodes whose children are blocks (joined by blank lines); any other node's children are inline. */
const BLOCKS = new Set([
  'paragraph', 'heading', 'codeBlock', 'blockquote', 'bulletList', 'orderedList', 'listItem', 'panel', 'table', 'tableRow',
  'tableHeader', 'tableCell', 'rule', 'mediaSingle', 'mediaGroup', 'blockCard', 'embedCard', 'expand', 'nestedExpand',
  'taskList', 'taskItem', 'decisionList', 'decisionItem', 'layoutSection', 'layoutColumn', 'extension', 'bodiedExtension',
]);

interface Walk {
  nodes: number;
  cut: boolean;
}

type Node = { type?: unknown; text?: unknown; attrs?: unknown; marks?: unknown; content?: unknown };

export function commentText(body: unknown): string {
  if (typeof body === 'string') return body;
  const w: Walk = { nodes: 0, cut: false };
  const text = render(body, 0, w).replace(/\n{3,}/g, '\n\n').trim();
  return w.cut ? `${text}\n\n${CUT_NOTE}` : text;
}

function render(n: unknown, depth: number, w: Walk): string {
  if (!n || typeof n !== 'object') return '';
  if (depth > MAX_DEPTH || ++w.nodes > MAX_NODES) {
    w.cut = true;
    return '';
  }
  const node = n as Node;
  const attrs = (node.attrs && typeof node.attrs === 'object' ? node.attrs : {}) as Record<string, unknown>;
  const kids = Array.isArray(node.content) ? (node.content as unknown[]) : [];
  const each = (): string[] => kids.map((k) => render(k, depth + 1, w));
  switch (node.type) {
    case 'text':
      return linked(node, typeof node.text === 'string' ? node.text : '');
    case 'hardBreak':
      return '\n';
    case 'mention':
    case 'status':
      return str(attrs.text);
    case 'emoji':
      return str(attrs.text) || str(attrs.shortName);
    case 'inlineCard':
    case 'blockCard':
    case 'embedCard':
      return str(attrs.url);
    case 'date':
      return dateOf(attrs.timestamp);
    case 'rule':
      return '---';
    case 'media':
    case 'mediaInline':
      return '';
    case 'bulletList':
      return each().map((t) => item('- ', t)).join('\n');
    case 'orderedList': {
      const start = typeof attrs.order === 'number' && Number.isSafeInteger(attrs.order) ? attrs.order : 1;
      return each().map((t, i) => item(`${start + i}. `, t)).join('\n');
    }
    case 'taskList': {
      const texts = each();
      return kids.map((k, i) => item(taskState(k) === 'DONE' ? '[x] ' : '[ ] ', texts[i] ?? '')).join('\n');
    }
    case 'blockquote':
      return joinBlocks(each()).split('\n').map((l) => `> ${l}`).join('\n');
    case 'tableRow':
      return each().map((t) => t.replace(/\s*\n+\s*/g, ' ')).join(' | ');
    case 'table':
      return each().filter(Boolean).join('\n');
    case 'expand':
    case 'nestedExpand':
      return joinBlocks([str(attrs.title), ...each()]);
  }
  if (!kids.length) return str(attrs.text);
  return kids.some((k) => BLOCKS.has((k as Node | null)?.type as string)) ? joinBlocks(each()) : each().join('');
}

function joinBlocks(parts: string[]): string {
  return parts.filter((p) => p.trim() !== '').join('\n\n');
}

/** A list item's text under its marker, its further lines indented to match. */
function item(marker: string, text: string): string {
  return marker + text.replace(/\n{2,}/g, '\n').split('\n').join(`\n${' '.repeat(marker.length)}`);
}

function taskState(n: unknown): unknown {
  const attrs = (n as Node | null)?.attrs;
  return attrs && typeof attrs === 'object' ? (attrs as Record<string, unknown>).state : undefined;
}

/** A link mark's target after its text, unless the text is the target. */
function linked(node: Node, text: string): string {
  const marks = Array.isArray(node.marks) ? (node.marks as { type?: unknown; attrs?: { href?: unknown } }[]) : [];
  const href = marks.find((m) => m?.type === 'link')?.attrs?.href;
  return typeof href === 'string' && href && href !== text ? `${text} <${href}>` : text;
}

/** ADF's date: epoch milliseconds as a string; shown as the day (UTC). */
function dateOf(timestamp: unknown): string {
  const ms = Number(timestamp);
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString().slice(0, 10) : '';
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
