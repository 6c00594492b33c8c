// The notification mail itself: subject, text, and the headers that keep it out of loops.
// Pure, so the headers every message carries are tested without an SMTP server.
import { createHash } from 'node:crypto';
import { LOOP_HEADER, loopHeaderValue, NOTIFICATION_ID_PREFIX } from '../mail/loop.js';
import type { NotifyEvent } from './events.js';

/**
 * On everything Mailroom sends. Auto-Submitted (RFC 3834) and Precedence: bulk keep
 * vacation responders quiet; X-Auto-Response-Suppress does the same for Exchange; our own loop
 * header makes the classifier recognise the mail as ours if it comes back to a watched mailbox.
 */
export function loopHeaders(installId: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'Auto-Submitted': 'auto-generated',
    Precedence: 'bulk',
    'X-Auto-Response-Suppress': 'All',
    [LOOP_HEADER]: loopHeaderValue(installId, extra),
  };
}

export interface NotificationContent {
  issueKey: string;
  event: NotifyEvent | string;
  summary?: string;
  /** Why the summary is not mailed (the issue may be restricted: notifier.ts summaryWithheld). */
  withheld?: string;
  /** Jira site URL, for the issue link. */
  site: string;
}

const WHAT: Record<string, string> = {
  issue_created: 'Issue created',
  issue_updated: 'Issue updated',
  comment_created: 'New comment',
};

export function subjectOf(c: NotificationContent): string {
  const what = WHAT[c.event] ?? c.event;
  const summary = c.summary?.replace(/[\r\n]+/g, ' ').trim();
  return `[${c.issueKey}] ${what}${summary ? `: ${summary}` : ''}`;
}

export function issueUrl(site: string, issueKey: string): string {
  return `${site.replace(/\/+$/, '')}/browse/${encodeURIComponent(issueKey)}`;
}

export function textOf(c: NotificationContent): string {
  const what = (WHAT[c.event] ?? c.event).toLowerCase();
  return [
    `${c.issueKey}: ${what}.`,
    c.summary ? `\n${c.summary}` : '',
    c.withheld ? `\nIts summary is not in this mail: ${c.withheld}.` : '',
    `\nOpen it in Jira: ${issueUrl(c.site, c.issueKey)}`,
    '\n-- \nSent by Mailroom to the people and groups set up for this project. This is an automatic message; replies are not read.',
  ].join('\n');
}

/**
 * A Message-ID fixed by the event and the recipients: if a crash between the SMTP server's
 * acceptance and our record of it ever causes a resend, it is the same message, which mail
 * clients show once.
 */
export function stableMessageId(eventId: string, recipients: readonly string[], domain: string): string {
  const h = createHash('sha256').update(eventId).update('\0').update([...recipients].sort().join(',')).digest('hex').slice(0, 32);
  // Read back by isNotificationId (src/mail/loop.ts): an answer to it is not work.
  return `<${NOTIFICATION_ID_PREFIX}${h}@${domain}>`;
}

/** Split into BCC batches of `size` (1 = one message per recipient). */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const n = Math.max(1, Math.floor(size));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}
