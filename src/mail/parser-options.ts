// How Mailroom calls mailparser: one set of options for every parse of a mail (parse.ts, and
// the embedded messages delivery-content.ts opens), so no two parses can disagree.
/**
 * mailparser with only what Mailroom uses: its defaults turn HTML into text, text into HTML,
 * linkify and inline cid: images as data: URLs — most of its time, none of it used here
 * (`npm run bench`, "parse": about 1.7x simpleParser with defaults). Attachment checksums are skipped: the raw store is content-addressed.
 */
export const LEAN_PARSER_OPTIONS = {
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  skipImageLinks: true,
  keepCidLinks: true,
  checksumAlgo: false as const,
};

export const PARSER_OPTIONS = {
  ...LEAN_PARSER_OPTIONS,
  // Keep delivery-status parts apart from the text (classification reads their type), and do
  // not descend into enclosed messages (a bounce's returned mail is not this mail's text).
  keepDeliveryStatus: true,
  ignoreEmbedded: true,
};

