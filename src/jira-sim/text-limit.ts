// Jira Cloud's limit on a rich-text field (description, comment), as the simulator counts it.

/**
 * Jira Cloud refuses a rich-text field (description, a comment) over 32,767 characters. The
 * simulator counts the document's text: text nodes, a hard break as one, a blank line between
 * blocks (docs/jira-simulator-limits-and-lag.md: the figure is sourced, Jira's way of counting
 * an ADF document is not).
 */
export const TEXT_FIELD_MAX = 32_767;
export const TOO_LONG = `The entered text is too long. It exceeds the allowed limit of ${TEXT_FIELD_MAX.toLocaleString('en')} characters.`;

export function adfChars(v: unknown): number {
  const n = v as { type?: unknown; text?: unknown; content?: unknown };
  if (n?.type === 'hardBreak') return 1;
  const own = typeof n?.text === 'string' ? n.text.length : 0;
  const kids = Array.isArray(n?.content) ? (n.content as unknown[]) : [];
  const between = n?.type === 'doc' ? Math.max(0, kids.length - 1) * 2 : 0;
  return kids.reduce((sum: number, k) => sum + adfChars(k), own + between);
}
