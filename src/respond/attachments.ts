// The files an agent's comment shows (its ADF `media` nodes), matched to the issue's attachments,
// and what the customer's mail says about them. Pure: the download is in comment-files.ts.
//
// Jira Cloud writes a file in a comment as `mediaSingle`/`mediaGroup` > `media` with
// `attrs.id` (the Media Services file id, a UUID, not the REST attachment id), `attrs.alt` (the
// file name) and `attrs.collection`; `mediaInline` likewise. The REST attachment list (issue field
// `attachment`) names files by numeric id and `filename`. So: the REST id when a node carries it,
// else the file name, and only when exactly one attachment has it: two files of one name cannot
// be told apart, and a guess could mail a file the agent did not put in this comment.

export interface IssueAttachment {
  id: string;
  filename: string;
  size: number;
  mimeType: string;
}

export interface MediaRef {
  id?: string;
  alt?: string;
}

/** What the mail says about a file it does not carry. */
export interface LeftOut {
  name: string;
  size?: number;
  why: string;
}

/** Bounds on walking a document Jira sent: depth and node count (a comment is small; a hostile one is not). */
const MAX_DEPTH = 64;
const MAX_NODES = 20_000;
/** Files looked at per comment, at most. */
export const MAX_MEDIA = 50;

/** The media nodes of an ADF document, in order, each once (at most MAX_MEDIA). */
export function mediaRefs(doc: unknown): MediaRef[] {
  return mediaOf(doc).refs;
}

/** mediaRefs, and how many more files the comment shows past MAX_MEDIA (named in the mail, not dropped silently). */
export function mediaOf(doc: unknown): { refs: MediaRef[]; more: number } {
  const refs: MediaRef[] = [];
  const seen = new Set<string>();
  let nodes = 0;
  let more = 0;
  const walk = (n: unknown, depth: number): void => {
    if (!n || typeof n !== 'object' || depth > MAX_DEPTH || ++nodes > MAX_NODES) return;
    const { type, attrs, content } = n as { type?: unknown; attrs?: Record<string, unknown>; content?: unknown };
    if ((type === 'media' || type === 'mediaInline') && attrs && typeof attrs === 'object') {
      const ref: MediaRef = {
        ...(typeof attrs.id === 'string' && attrs.id ? { id: attrs.id } : {}),
        ...(typeof attrs.alt === 'string' && attrs.alt ? { alt: attrs.alt } : {}),
      };
      const k = `${ref.id ?? ''}\u0000${ref.alt ?? ''}`;
      if ((ref.id || ref.alt) && !seen.has(k)) {
        seen.add(k);
        if (refs.length < MAX_MEDIA) refs.push(ref);
        else more++;
      }
    }
    if (Array.isArray(content)) for (const c of content) walk(c, depth + 1);
  };
  walk(doc, 0);
  return { refs, more };
}

/** The issue field `attachment` as Jira returns it (AttachmentBean[]); anything malformed is left out. */
export function issueAttachments(field: unknown): IssueAttachment[] {
  if (!Array.isArray(field)) return [];
  return field.flatMap((a: unknown) => {
    const { id, filename, size, mimeType } = (a ?? {}) as Record<string, unknown>;
    if ((typeof id !== 'string' && typeof id !== 'number') || typeof filename !== 'string') return [];
    return [{ id: String(id), filename, size: typeof size === 'number' && size >= 0 ? size : 0, mimeType: typeof mimeType === 'string' ? mimeType : 'application/octet-stream' }];
  });
}

/** The comment's files among the issue's: by REST id, else by a file name only one attachment has. */
export function matchMedia(refs: MediaRef[], attachments: IssueAttachment[]): { found: IssueAttachment[]; leftOut: LeftOut[] } {
  const found: IssueAttachment[] = [];
  const leftOut: LeftOut[] = [];
  for (const ref of refs) {
    const byId = ref.id ? attachments.find((a) => a.id === ref.id) : undefined;
    const named = ref.alt ? attachments.filter((a) => a.filename === ref.alt) : [];
    const hit = byId ?? (named.length === 1 ? named[0] : undefined);
    if (hit) {
      if (!found.includes(hit)) found.push(hit);
    } else if (ref.alt) {
      leftOut.push({ name: safeFilename(ref.alt), why: named.length > 1 ? 'several files on the issue have this name' : 'not found among the issue\'s attachments' });
    }
    // A node with neither a known id nor a name says nothing the customer could use.
  }
  return { found, leftOut };
}

/**
 * A file name from Jira, safe as a MIME filename and in the mail's text: no directories (either
 * slash), no control or bidirectional-override characters (a name that reads `gpj.exe` as
 * `exe.jpg`), not empty, at most 200 characters. nodemailer encodes what is left (RFC 2231).
 */
export function safeFilename(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  const clean = base
    // eslint-disable-next-line no-control-regex -- control characters are what this removes
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
    .replace(/^[.\s]+/, '')
    .trim()
    .slice(0, 200);
  return clean || 'attachment';
}

export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MB`;
}

/** The lines under the comment's text: what is attached, what is not and why, or (links mode) the names. */
export function attachmentNote(o: { attached: { filename: string; size: number }[]; leftOut: LeftOut[]; listed?: { filename: string; size: number }[]; more?: number }): string {
  const lines: string[] = [];
  if (o.attached.length) lines.push(`Attached: ${o.attached.map((a) => `${a.filename} (${humanSize(a.size)})`).join(', ')}`);
  if (o.listed?.length) {
    lines.push('Files on this comment (not attached to this mail; reply if you need them):');
    for (const a of o.listed) lines.push(`- ${a.filename}, ${humanSize(a.size)}`);
  }
  for (const l of o.leftOut) lines.push(`Not attached: ${l.name}${l.size !== undefined ? `, ${humanSize(l.size)}` : ''} — ${l.why}`);
  if (o.more) lines.push(`Not attached: ${o.more} more file${o.more === 1 ? '' : 's'} — a mail carries the first ${MAX_MEDIA} files of a comment`);
  return lines.join('\n');
}
