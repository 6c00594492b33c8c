// What a notification is about, decided from a Jira webhook or a CLI call: pure functions,
// table-tested. The event names are the config's (notifications.rules[].events); Jira's own
// webhook event names map onto them.
import { createHash } from 'node:crypto';
import type { FileConfig } from '../config/schema.js';

export const NOTIFY_EVENTS = ['issue_created', 'issue_updated', 'comment_created'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export type NotificationRule = NonNullable<FileConfig['notifications']>['rules'][number];

/** Jira Cloud's `webhookEvent` values for the events Mailroom notifies about. */
const WEBHOOK_EVENTS: Record<string, NotifyEvent> = {
  'jira:issue_created': 'issue_created',
  'jira:issue_updated': 'issue_updated',
  comment_created: 'comment_created',
};

export function isNotifyEvent(name: string): name is NotifyEvent {
  return (NOTIFY_EVENTS as readonly string[]).includes(name);
}

/** The event named by a webhook's `webhookEvent`, or undefined for events Mailroom does not notify about. */
export function eventOfWebhook(webhookEvent: unknown): NotifyEvent | undefined {
  return typeof webhookEvent === 'string' ? WEBHOOK_EVENTS[webhookEvent] : undefined;
}

/** A readable refusal for an event name that does not exist (CLI and config share it). */
export function unknownEventMessage(name: string): string {
  return `unknown event "${name}": use one of ${NOTIFY_EVENTS.join(', ')}`;
}

export { ISSUE_KEY, projectOfIssueKey } from '../jira/issue-key.js';

/**
 * Who receives `event` on an issue of `project`: the union of every matching rule's groups and
 * users, in rule order, without repeats (group names compared case-insensitively, as Jira does).
 */
export function recipientsFor(rules: readonly NotificationRule[], project: string, event: NotifyEvent): { groups: string[]; users: string[] } {
  const groups: string[] = [];
  const users: string[] = [];
  for (const r of rules) {
    if (r.project !== project || !r.events.includes(event)) continue;
    for (const g of r.groups) if (!groups.some((x) => x.toLowerCase() === g.toLowerCase())) groups.push(g);
    for (const u of r.users) if (!users.includes(u.toLowerCase())) users.push(u.toLowerCase());
  }
  return { groups, users };
}

/**
 * A stable id for one event, safe in a BullMQ job id (no `:`), made only of what the signature
 * covers: the body's event, issue, timestamp (and comment or changelog id). Jira's
 * X-Atlassian-Webhook-Identifier header is not signed, so a replay of a signed body with a new
 * identifier must still come out the same: it is queued once and notifies once.
 */
export function webhookEventId(o: { timestamp: number; issueKey: string; event: NotifyEvent; commentId?: string; changelogId?: string }): string {
  const parts = ['wh', `ts-${o.timestamp}`, o.issueKey, o.event, ...(o.commentId ? [`c${o.commentId}`] : []), ...(o.changelogId ? [`l${o.changelogId}`] : [])];
  return safeId(parts.join('-'));
}

/**
 * Jira retries a failed delivery for minutes, and "secondary" deliveries (fallout of bulk
 * changes) may come up to a quarter of an hour late; an hour either way also covers clock
 * skew. A signed body older than that is a replay, not a delivery.
 */
export const WEBHOOK_MAX_AGE_MS = 60 * 60_000;

export type Freshness = { ok: true; at: number } | { ok: false; why: string };

/** Whether a webhook body's `timestamp` (epoch ms, as Jira sends it) is within `maxAgeMs` of `now`. */
export function webhookFreshness(timestamp: unknown, now: number, maxAgeMs = WEBHOOK_MAX_AGE_MS): Freshness {
  const at = typeof timestamp === 'number' ? timestamp : typeof timestamp === 'string' && /^\d{1,16}$/.test(timestamp) ? Number(timestamp) : NaN;
  if (!Number.isSafeInteger(at) || at <= 0) return { ok: false, why: 'the webhook body has no timestamp (epoch milliseconds): it cannot be checked for freshness' };
  const minutes = Math.round(maxAgeMs / 60_000);
  if (at < now - maxAgeMs) return { ok: false, why: `the webhook body's timestamp ${new Date(at).toISOString()} is more than ${minutes} minutes old: refused as a replay` };
  if (at > now + maxAgeMs) return { ok: false, why: `the webhook body's timestamp ${new Date(at).toISOString()} is more than ${minutes} minutes in the future: check the clocks` };
  return { ok: true, at };
}

/** Keep ids to letters, digits and `._-`; a long id is shortened with a hash of the whole. */
export function safeId(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9._-]+/g, '_');
  return clean.length <= 160 ? clean : `${clean.slice(0, 120)}-${sha(s).slice(0, 24)}`;
}

function sha(x: string | Buffer): string {
  return createHash('sha256').update(x).digest('hex');
}
