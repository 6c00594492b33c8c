// How much of a mail is parsed at most, apart from the parser itself so that code which only
// needs the limit (the IMAP reader sizing its fetches) does not load mailparser.

/**
 * Bytes handed to the parser at most. Bigger mails (the rest is almost always attachments)
 * are parsed from their head only and flagged `parse-input`; the raw source stays whole in
 * the store. 8 MiB parses in well under a second here (~13 MB/s, see bench/parse.ts), which
 * bounds how long one mail can hold the event loop.
 */
export const DEFAULT_MAX_PARSE_BYTES = 8 * 1024 * 1024;
