// The customer mail itself: subject and bodies from the mailbox's templates, and the headers
// that keep loops out without making the customer's answer look like machine mail. Pure.
//
// Headers, and why:
// - Mailroom's loop header (src/mail/loop.ts): if the mail comes back into a watched mailbox
//   (a forward, a Cc of the support address), the classifier knows it as ours.
// - `Auto-Submitted: auto-replied` on the acknowledgement only (RFC 3834 §5: a response sent
//   automatically to a message). Agents' replies are written by people: no Auto-Submitted.
// - No `Precedence: bulk`: it is list traffic to the classifier (and to other systems), and the
//   customer's client may copy headers into the reply; conversation mail stays conversation.
// - `X-Auto-Response-Suppress: OOF, AutoReply`: Exchange's out-of-office stays quiet towards an
//   automatic acknowledgement (what the notifier sends too), so two auto-responders never ping-pong.
// - `In-Reply-To` / `References`: threaded under the customer's mail.
import { LOOP_HEADER, loopHeaderValue } from '../mail/loop.js';
import type { RespondConfig } from '../config/respond-schema.js';

export interface AckContent {
  key: string;
  summary: string;
  subject: string;
  /** The issue's URL when the recipient may open it; else empty. */
  link: string;
  mailbox: string;
}

/** `loopDomain`: smtp.from's (loopDomainOf), which tells our mail from another Mailroom's. */
export function ackHeaders(installId: string, issueKey: string, loopDomain: string): Record<string, string> {
  return {
    'Auto-Submitted': 'auto-replied',
    'X-Auto-Response-Suppress': 'OOF, AutoReply',
    [LOOP_HEADER]: loopHeaderValue(installId, { domain: loopDomain, issue: issueKey, kind: 'acknowledge' }),
  };
}

/** `{{field}}` replaced by its value; html escapes values. Unknown fields were refused by the config schema. */
export function render(template: string, c: AckContent, html = false): string {
  const values: Record<string, string> = {
    key: c.key,
    summary: c.summary,
    subject: c.subject,
    link: c.link ? (html ? `<a href="${escapeHtml(c.link)}">${escapeHtml(c.link)}</a>` : c.link) : '',
    mailbox: c.mailbox,
  };
  return template.replace(/\{\{\s*([a-z]+)\s*\}\}/g, (all, name: string) => {
    const v = values[name];
    if (v === undefined) return all;
    return html && name !== 'link' ? escapeHtml(v) : v;
  });
}

export function ackMessage(t: RespondConfig['templates'], c: AckContent): { subject: string; text: string; html?: string } {
  // A subject is one line: a template or value with line breaks must not add headers.
  const subject = render(t.acknowledgeSubject, c).replace(/[\r\n]+/g, ' ').trim().slice(0, 998);
  const text = render(t.acknowledgeText, c).replace(/\n{3,}/g, '\n\n');
  return { subject, text, ...(t.acknowledgeHtml ? { html: render(t.acknowledgeHtml, c, true) } : {}) };
}

/** The customer's subject without our own `[KEY]` tag and reply prefixes, so ours reads `[SUP-12] Printer`. */
export function plainSubject(subject: string, issueKey: string): string {
  let s = subject.replace(/[\r\n]+/g, ' ').trim();
  for (;;) {
    const next = s.replace(/^(re|aw|sv|fw|fwd|wg)\s*:\s*/i, '').replace(new RegExp(`^\\[${issueKey}\\]\\s*`, 'i'), '');
    if (next === s) break;
    s = next;
  }
  return s || '(no subject)';
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}
