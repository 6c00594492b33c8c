// Header blocks as a delivery report writes them (RFC 3464 §2.1: "name: value" fields, folded
// onto continuation lines, blocks apart by blank lines), and the returned mail's own header.
// mailparser hands these parts over as bytes and does not read their fields, so they are read
// here. A sender chooses their size and shape: one pass over the lines, continuation lines
// collected per field and joined once (never `value += line`, which copies the value again
// for every fold), and every count capped, so a report of 20,000 folded lines costs what its
// first few kilobytes cost.

export interface HeaderBlockLimits {
  /** Characters read at most; the rest is not looked at. */
  maxChars: number;
  /** Fields kept at most, over all blocks. */
  maxFields: number;
  /** Blocks kept at most. */
  maxBlocks: number;
  /** A field's value is cut to this many characters (its further continuation lines are skipped). */
  maxValueChars: number;
}

/** A field name (lower-cased) and its unfolded, whitespace-collapsed value. */
export type HeaderField = [name: string, value: string];

export interface HeaderBlocks {
  blocks: HeaderField[][];
  /** What a cap cut: 'chars', 'fields', 'blocks', 'value'. Empty when nothing was. */
  cut: string[];
}

export const DSN_LIMITS: HeaderBlockLimits = {
  // A real report is a few hundred bytes per recipient; 64 KB holds hundreds of recipients.
  maxChars: 64 * 1024,
  maxFields: 400,
  maxBlocks: 50,
  maxValueChars: 1000,
};

const FIELD = /^([!-9;-~]{1,76}):[ \t]*(.*)$/;

export function parseHeaderBlocks(text: string, limits: HeaderBlockLimits = DSN_LIMITS): HeaderBlocks {
  const cut = new Set<string>();
  const input = text.length > limits.maxChars ? (cut.add('chars'), text.slice(0, limits.maxChars)) : text;
  const blocks: HeaderField[][] = [];
  let block: HeaderField[] | undefined;
  let fields = 0;
  // The field being read: its name, its pieces, and their length so far.
  let name: string | undefined;
  let pieces: string[] = [];
  let length = 0;
  const close = () => {
    if (name !== undefined && block) {
      const v = pieces.join(' ').replace(/\s+/g, ' ').trim();
      if (v.length > limits.maxValueChars) cut.add('value');
      block.push([name, v.slice(0, limits.maxValueChars)]);
    }
    name = undefined;
    pieces = [];
    length = 0;
  };
  for (const line of input.split(/\r?\n/)) {
    if (line.trim() === '') {
      close();
      block = undefined;
      continue;
    }
    if (line[0] === ' ' || line[0] === '\t') {
      if (name === undefined) continue;
      if (length >= limits.maxValueChars) {
        cut.add('value');
        continue;
      }
      pieces.push(line);
      length += line.length;
      continue;
    }
    close();
    const m = FIELD.exec(line);
    if (!m) continue; // not a field: a stray text line is skipped, not guessed at
    if (fields >= limits.maxFields) {
      cut.add('fields');
      break;
    }
    if (!block) {
      if (blocks.length >= limits.maxBlocks) {
        cut.add('blocks');
        break;
      }
      block = [];
      blocks.push(block);
    }
    fields++;
    name = m[1]!.toLowerCase();
    pieces = [m[2]!];
    length = m[2]!.length;
  }
  close();
  return { blocks, cut: [...cut] };
}

/** The first value of a field in a block, if any. */
export function fieldOf(block: readonly HeaderField[], name: string): string | undefined {
  return block.find(([n]) => n === name)?.[1];
}
