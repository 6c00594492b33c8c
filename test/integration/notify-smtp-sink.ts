// The receiving SMTP server the notifier's and the reply loop's tests use is the demo's
// (src/demo/smtp-sink.ts: one server, with the misbehaviours the tests set); this file adds
// what only the tests read.
export { startSmtpSink, type Received, type SmtpSink } from '../../src/demo/smtp-sink.js';

/** The header block of a raw message, unfolded, as name (lower-case) -> values. */
export function headersOf(raw: Buffer): Map<string, string[]> {
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const block = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const out = new Map<string, string[]>();
  for (const line of block.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    out.set(k, [...(out.get(k) ?? []), line.slice(i + 1).trim()]);
  }
  return out;
}
