// The delivery content of a parsed mail: its text and its attachments with their bytes. Made
// from the one parse of the mail (parse.ts, with PARSER_OPTIONS), at intake or, for a mail
// intake parsed only from its head, by the deliverer from the whole raw mail: the same options
// and this same function both times, so the attachment positions delivery records its uploads
// by cannot differ between the two.
//
// That parse does not open enclosed messages (a bounce's returned mail is not its text). For a
// person's mail that forwards one as an attachment (message/rfc822, or message/global), the
// enclosed mail is opened here, with the same options: its text follows the mail's own, and its
// attachments take its place in the list. Nested forwards are opened three deep at most, and at
// most MAX_OPENED in all, however wide: each opening is a whole parse, so a small mail forwarding
// many forwards of forwards must not cost thousands of them (an outside attack pass: 54 x 54 x 54
// in 7.7 MB took 21 s). Past the budget a forward stays the attachment it is.
import { simpleParser, type ParsedMail } from 'mailparser';
import { contentOf, MAX_BODY_CHARS, type MailAttachment, type MailContent } from './content.js';
import { PARSER_OPTIONS } from './parser-options.js';

const EMBEDDED = new Set(['message/rfc822', 'message/global']);
const MAX_DEPTH = 3;
export const MAX_OPENED = 10;

export async function deliveryContent(p: ParsedMail, depth = 0, budget = { left: MAX_OPENED }): Promise<MailContent> {
  const own = contentOf(p);
  if (depth >= MAX_DEPTH || !own.attachments.some(isEmbedded)) return own;
  const texts = [own.text];
  const attachments: MailAttachment[] = [];
  for (const a of own.attachments) {
    const inner = isEmbedded(a) && budget.left > 0 ? await openEmbedded(a, depth, budget) : undefined;
    if (!inner) {
      attachments.push(a);
      continue;
    }
    if (inner.text.trim()) texts.push(inner.text);
    attachments.push(...inner.attachments);
  }
  const text = texts.filter((t) => t.trim()).join('\n\n');
  const cut = own.cut ?? (text.length > MAX_BODY_CHARS ? `the text with the forwarded mail's is longer than ${MAX_BODY_CHARS.toLocaleString('en')} characters (${text.length.toLocaleString('en')})` : undefined);
  return { text: text.slice(0, MAX_BODY_CHARS), fromHtml: own.fromHtml, ...(cut ? { cut } : {}), attachments: attachments.map((a, index) => ({ ...a, index })) };
}

function isEmbedded(a: MailAttachment): boolean {
  return EMBEDDED.has(a.contentType.toLowerCase());
}

/** The enclosed mail's content; undefined (kept as the attachment it is) when it does not parse. */
async function openEmbedded(a: MailAttachment, depth: number, budget: { left: number }): Promise<MailContent | undefined> {
  budget.left--;
  try {
    return await deliveryContent(await simpleParser(a.content, PARSER_OPTIONS), depth + 1, budget);
  } catch {
    return undefined;
  }
}
