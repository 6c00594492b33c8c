// Mail files on disk: single messages (.eml) and mbox files (many messages, each opened by a
// "From " line). Used by `mailroom ingest` and the corpus tests; the IMAP path never sees mbox.
import { open, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { NotFoundError } from '../core/errors.js';

// A From_ separator: "From <sender> <asctime date>", e.g. "From MAILER-DAEMON Thu Sep 18
// 17:54:04 2008". Requiring the time and year keeps body lines such as "From time to time"
// (which writers of mboxo files fail to quote) from splitting a message in two.
const FROM_LINE = /^From \S*[ \t]+.*\b\d{1,2}:\d{2}(:\d{2})?\b.*\b\d{4}\b/;

// A From_ line is an envelope sender (at most 256 octets, RFC 5321) and a date. The pattern's two
// `.*` backtrack quadratically on a long line of times without a year ("From x 1:11 1:11 …", a
// body line an mboxo writer left unquoted: 1 MB took minutes), so a longer line is never one.
const MAX_FROM_LINE = 1000;

export function isFromLine(line: string): boolean {
  return line.length <= MAX_FROM_LINE && FROM_LINE.test(line);
}

/** True when the bytes start like an mbox file (a From_ line), not like a single message. */
export function looksLikeMbox(head: Buffer): boolean {
  const first = head.subarray(0, 512).toString('latin1').split(/\r?\n|\r/, 1)[0] ?? '';
  return isFromLine(first);
}

/**
 * The messages of an mbox file, byte for byte except for the From_ lines (dropped) and mboxrd
 * quoting (">From " -> "From ", ">>From " -> ">From "). The blank line that precedes each
 * From_ line belongs to the separator and is dropped too.
 */
export function splitMbox(data: Buffer): Buffer[] {
  // latin1 maps bytes 1:1 to chars, so slicing the string and converting back is exact.
  const text = data.toString('latin1');
  const messages: string[] = [];
  let current: string[] | undefined;
  const lineRe = /[^\r\n]*(\r\n|\n|\r|$)/g;
  let m: RegExpExecArray | null;
  while ((m = lineRe.exec(text)) && m[0].length > 0) {
    const line = m[0];
    const body = line.slice(0, line.length - (m[1]?.length ?? 0));
    if (isFromLine(body)) {
      if (current) messages.push(finish(current));
      current = [];
      continue;
    }
    if (!current) {
      // Content before the first From_ line: not an mbox message; keep it as one if not blank.
      if (body.trim() === '') continue;
      current = [];
    }
    current.push(/^>+From /.test(line) ? line.slice(1) : line);
  }
  if (current) messages.push(finish(current));
  return messages.filter((s) => s.trim().length > 0).map((s) => Buffer.from(s, 'latin1'));
}

function finish(lines: string[]): string {
  const last = lines[lines.length - 1];
  if (last !== undefined && /^(\r\n|\n|\r)$/.test(last)) lines.pop();
  return lines.join('');
}

export interface MailInput {
  path: string;
  kind: 'eml' | 'mbox';
}

const EML_EXT = new Set(['.eml']);
const MBOX_EXT = new Set(['.mbox', '.mbx']);

/**
 * Files to ingest. A file named on the command line is always taken (.eml: one message;
 * .mbox, or any other name starting with a From_ line: an mbox); inside directories, recursively, only `.eml` and
 * `.mbox` files and extension-less files that start with a From_ line, so READMEs, licences
 * and checksum lists beside the mail are left alone. Sorted, so runs are repeatable.
 */
export async function listMailInputs(paths: readonly string[]): Promise<MailInput[]> {
  // Every path is checked before any is read: a typo fails the run before half of it is done.
  const stats = await Promise.all(
    paths.map(async (p) => {
      try {
        return await stat(p);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') throw new NotFoundError(`${p}: no such file or directory`, { cause: e });
        throw e;
      }
    }),
  );
  const out: MailInput[] = [];
  for (const [i, p] of paths.entries()) {
    if (stats[i]!.isDirectory()) out.push(...(await walk(p)));
    else out.push({ path: p, kind: await kindOf(p) });
  }
  return out;
}

async function walk(dir: string): Promise<MailInput[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: MailInput[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      out.push(...(await walk(path)));
      continue;
    }
    if (!e.isFile()) continue;
    const ext = extname(e.name).toLowerCase();
    if (EML_EXT.has(ext)) out.push({ path, kind: 'eml' });
    else if (MBOX_EXT.has(ext) || (ext === '' && (await sniffMbox(path)))) out.push({ path, kind: 'mbox' });
  }
  return out;
}

/**
 * A .eml is one message even when it starts with a From_ envelope line (saved from an mbox):
 * such files often carry unquoted "From " lines in an enclosed message, which must not split
 * them. Other names are mbox when they start with a From_ line.
 */
async function kindOf(path: string): Promise<MailInput['kind']> {
  const ext = extname(path).toLowerCase();
  if (EML_EXT.has(ext)) return 'eml';
  if (MBOX_EXT.has(ext)) return 'mbox';
  return (await sniffMbox(path)) ? 'mbox' : 'eml';
}

async function sniffMbox(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    return looksLikeMbox(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}
